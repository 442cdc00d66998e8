/*! The controller's view of the manifests folder: what each stack should be, where a broken
manifest keeps the last good desired state.

[`LastGood::update`] takes a freshly loaded folder and says which stacks changed. It is pure
(the folder is loaded by the caller), so it is tested without a file system or an engine.

# Guarantees
- A stack whose manifests fail to parse or validate keeps its last good desired state (a
  stack that was never valid is left alone).
- While any manifest in the folder is broken, a stack whose manifests are gone keeps its last
  good state too: whole-stack removal waits until the folder is valid again.
*/

use std::collections::{BTreeMap, BTreeSet};

use crate::manifests::diagnostics::Diagnostic;
use crate::reconcile::Manifests;
use crate::status::generation;
use crate::workspace::Workspace;

/// The manifests as the controller plans from them.
#[derive(Debug, Default)]
pub struct LastGood {
    manifests: Manifests,
    generations: BTreeMap<String, String>,
    diagnostics: Vec<Diagnostic>,
    broken: BTreeSet<String>,
}

/// What one [`LastGood::update`] found.
#[derive(Debug, Default, PartialEq)]
pub struct Rescan {
    /// Stacks whose desired state changed, appeared or vanished: they need a reconcile.
    pub changed: BTreeSet<String>,
    /// Stacks whose manifests are broken now (kept at their last good state, or left alone).
    pub broken: BTreeSet<String>,
    /// The folder's problems, when they differ from the previous update's.
    pub new_diagnostics: Option<Vec<Diagnostic>>,
}

impl LastGood {
    /// What to plan from: every stack's valid or last good desired state.
    pub fn manifests(&self) -> &Manifests {
        &self.manifests
    }

    /// Whether `stack`'s manifests are broken right now.
    pub fn is_broken(&self, stack: &str) -> bool {
        self.broken.contains(stack)
    }

    /// The folder's problems as of the last update.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The generation of `stack`'s desired state ([`generation`]), if it has one.
    pub fn generation(&self, stack: &str) -> Option<String> {
        self.generations.get(stack).cloned()
    }

    /// Takes in a freshly loaded folder; returns what changed.
    pub fn update(&mut self, ws: &Workspace) -> Rescan {
        let fresh = Manifests::of(ws);
        let mut next = fresh.clone();
        for (name, last_good) in &self.manifests.stacks {
            if fresh.stacks.contains_key(name) {
                continue;
            }
            // Broken now (or in a file that no longer parses at all): keep the last good
            // state. A stack whose manifests are simply gone while another file is broken is
            // kept too: whole-stack removal waits until the folder is valid.
            if fresh.known.contains(name) || !fresh.folder_valid {
                next.stacks.insert(name.clone(), last_good.clone());
                next.known.insert(name.clone());
            }
        }
        let generations: BTreeMap<String, String> = next
            .stacks
            .iter()
            .map(|(n, s)| (n.clone(), generation(s)))
            .collect();
        let mut changed: BTreeSet<String> = generations
            .iter()
            .filter(|(n, g)| self.generations.get(*n) != Some(*g))
            .map(|(n, _)| n.clone())
            .collect();
        let before = self.generations.keys().chain(&self.manifests.known);
        changed.extend(before.filter(|n| !generations.contains_key(*n)).cloned());
        let broken: BTreeSet<String> = next
            .known
            .iter()
            .filter(|n| !fresh.stacks.contains_key(*n))
            .cloned()
            .collect();
        let new_diagnostics = (self.diagnostics != ws.diagnostics).then(|| ws.diagnostics.clone());
        self.diagnostics = ws.diagnostics.clone();
        self.generations = generations;
        self.manifests = next;
        self.broken = broken.clone();
        Rescan {
            changed,
            broken,
            new_diagnostics,
        }
    }
}
