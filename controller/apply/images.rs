/*! Images: every image a container to be created needs is present, or pulled once (with
progress) before any container is created. A failed pull fails only the containers of that
image. */

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;

use super::progress::{Emitter, StepStatus};
use crate::runtime::{Runtime, RuntimeError};

/// Makes sure each of `images` is present, pulling the missing ones in parallel; returns the
/// images that could not be pulled, with the pull's error.
pub(crate) async fn ensure_images<'a>(
    rt: &dyn Runtime,
    images: BTreeSet<&'a str>,
    out: Emitter<'_>,
) -> BTreeMap<&'a str, Arc<RuntimeError>> {
    let pulls = images.into_iter().map(|image| async move {
        if let Ok(true) = rt.image_present(image).await {
            return Ok(());
        }
        let object = format!("image {image}");
        out.emit(&object, StepStatus::Working, "Pulling", None);
        let t = Instant::now();
        let pulled = rt.pull_image(image, &|p| out.sink.pull(&p)).await;
        match &pulled {
            Ok(()) => out.emit(&object, StepStatus::Done, "Pulled", Some(t.elapsed())),
            Err(e) => out.emit(
                &object,
                StepStatus::Failed,
                &e.to_string(),
                Some(t.elapsed()),
            ),
        }
        pulled.map_err(|e| (image, Arc::new(e)))
    });
    join_all(pulls)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}
