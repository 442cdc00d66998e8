//! Load, validate and resolve a generated folder of 200 and of 1,000 stacks × 5 instances.
//!
//! Run: `cargo bench --bench load`. Targets: 200 × 5 under 200 ms on a 2-core machine (issue:
//! foundation); 1,000 × 5 is the scale issue's (#15 §4) folder.

use std::fmt::Write as _;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use devarch::workspace::Workspace;

/// Write `stacks` stack files, each with 5 instances wired like a real app.
pub fn generate(dir: &Path, stacks: usize) {
    for s in 0..stacks {
        let mut y = String::new();
        writeln!(
            y,
            "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: stack-{s}}}\nspec:\n  description: generated\n  instances:\n    db: {{template: postgres, resources: {{memory: 512Mi}}}}\n    cache: {{template: redis}}\n    web:\n      template: django\n      env: {{DEBUG: \"1\", STACK: \"{s}\"}}\n      ports: [{{container: 8000, host: {}}}]\n    mail: {{template: mailpit}}\n    admin: {{template: adminer, ports: [\"8080\"]}}",
            20000 + s
        )
        .unwrap();
        std::fs::write(dir.join(format!("stack-{s}.yaml")), y).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("workspace");
    g.sample_size(10);
    for stacks in [200, 1000] {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), stacks);
        let ws = Workspace::load(dir.path()).unwrap();
        assert!(ws.is_valid(), "{:?}", ws.diagnostics.first());
        assert_eq!(
            ws.stacks.values().map(|s| s.instances.len()).sum::<usize>(),
            stacks * 5
        );
        g.bench_function(format!("load_validate_resolve_{stacks}x5"), |b| {
            b.iter(|| Workspace::load(dir.path()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
