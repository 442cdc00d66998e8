//! `devarch kube STACK [-o DIR] [--with-secrets]`: the stack as Kubernetes objects
//! ([`crate::kube`]), printed or written to `DIR/STACK.yaml`; secret values only with
//! `--with-secrets`, and only to `DIR/STACK-secrets.yaml` (mode 0600).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::args::Cli;
use super::compose::resolved_stack;
use super::context::{engine_context, home, runtime_or_offline, tokio_rt};
use super::exit;
use crate::reconcile::{self, Selection};
use crate::state::secrets::SecretStore;
use crate::workspace::Workspace;

/// Objects as YAML documents, each after `---`.
fn documents(objects: &[serde_json::Value]) -> Result<String> {
    let mut text = String::new();
    for o in objects {
        text.push_str("---\n");
        text.push_str(&serde_saphyr::to_string(o)?);
    }
    Ok(text)
}

/// `devarch kube`.
pub fn kube(cli: &Cli, stack: &str, out: Option<&Path>, with_secrets: bool) -> Result<u8> {
    let ws = Workspace::load(&cli.dir)?;
    let resolved = resolved_stack(cli, &ws, stack)?;
    tokio_rt()?.block_on(async {
        let rt = runtime_or_offline(cli).await;
        let ctx = engine_context(cli, rt.as_ref());
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &Selection::only([stack])).await?;
        let desired = planned
            .desired
            .get(stack)
            .with_context(|| format!("stack {stack:?} has no desired state"))?;
        let objects = crate::kube::render(resolved, desired, None)?;
        let mut header = format!(
            "# Written by `devarch kube {stack}`: kubectl apply -f FILE\n"
        );
        for (instance, note) in &objects.notes {
            header.push_str(&format!("# note: {instance}: {}\n", crate::printable::line(note)));
        }
        if !objects.secrets.is_empty() && !with_secrets {
            header.push_str("# Secrets referenced (values not written; `devarch kube --with-secrets -o DIR` writes them):\n");
            for (instance, name) in &objects.secrets {
                header.push_str(&format!(
                    "#   kubectl -n {stack} create secret generic {} --from-literal={name}=...\n",
                    crate::kube::secret_object(instance)
                ));
            }
        }
        let text = format!("{header}{}", documents(&objects.objects)?);
        let Some(dir) = out else {
            out!("{text}")?;
            return Ok(exit::OK);
        };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = dir.join(format!("{stack}.yaml"));
        crate::safe_fs::write_atomic(&file, text.as_bytes(), crate::safe_fs::FileMode::Keep { default: 0o644 })
            .with_context(|| format!("writing {}", file.display()))?;
        outln!("Wrote {} ({} objects).", file.display(), objects.objects.len())?;
        if with_secrets {
            let store = SecretStore::open(&home(cli), &ctx.owner)?;
            let mut values = BTreeMap::new();
            for (instance, name) in &objects.secrets {
                let value = store
                    .get(stack, instance, name)?
                    .with_context(|| format!("secret {instance}/{name} has no value yet: devarch secret set {stack} {instance}/{name}"))?;
                values.insert((instance.clone(), name.clone()), value.expose().to_string());
            }
            let with = crate::kube::render(resolved, desired, Some(&values))?;
            let secrets: Vec<_> = with.objects.into_iter().filter(|o| o["kind"] == "Secret").collect();
            let file = dir.join(format!("{stack}-secrets.yaml"));
            crate::safe_fs::write_atomic(&file, documents(&secrets)?.as_bytes(), crate::safe_fs::FileMode::Private)
                .with_context(|| format!("writing {}", file.display()))?;
            outln!("Wrote {} ({} Secrets, mode 0600).", file.display(), secrets.len())?;
        }
        Ok(exit::OK)
    })
}
