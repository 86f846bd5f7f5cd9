//! The fleet in force, shared by everyone who reads it while the engine may replace it (a live
//! reload, contract §6): the API's reads, the monthly reports, the desktop shell.
//!
//! Owns: the one cell holding the current `Fleet`. Readers take an `Arc` of the fleet at one
//! moment and keep a consistent picture for what they are doing; only the decider writes it,
//! after it applied a new fleet.
//! Must not know: how a fleet is read, validated or applied.

use std::sync::{Arc, RwLock};

use anshin_core::Fleet;

/// The fleet in force. Cheap to clone (all clones see the same cell).
#[derive(Clone, Debug)]
pub struct SharedFleet(Arc<RwLock<Arc<Fleet>>>);

impl SharedFleet {
    pub fn new(fleet: Arc<Fleet>) -> SharedFleet {
        SharedFleet(Arc::new(RwLock::new(fleet)))
    }

    /// The fleet in force now.
    pub fn get(&self) -> Arc<Fleet> {
        match self.0.read() {
            Ok(f) => f.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    /// Puts a new fleet in force (the decider, once it applied it).
    pub(crate) fn set(&self, fleet: Arc<Fleet>) {
        match self.0.write() {
            Ok(mut f) => *f = fleet,
            Err(e) => *e.into_inner() = fleet,
        }
    }
}

impl From<Fleet> for SharedFleet {
    fn from(fleet: Fleet) -> SharedFleet {
        SharedFleet::new(Arc::new(fleet))
    }
}

impl From<Arc<Fleet>> for SharedFleet {
    fn from(fleet: Arc<Fleet>) -> SharedFleet {
        SharedFleet::new(fleet)
    }
}
