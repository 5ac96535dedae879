//! Plans held by id between "show" and "apply".
//!
//! Why: a destructive plan must be applied exactly as the user saw it. The caller gets a copy to
//! show and an id; apply takes only the id, so no caller can hand back an edited plan (or one the
//! app never made). A plan is applied at most once, and expires: a confirm dialog left open over
//! lunch plans again instead of deleting what was true an hour ago.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a plan stays applicable.
pub const PLAN_TTL: Duration = Duration::from_secs(30 * 60);
/// Plans kept per kind; the oldest are dropped beyond this.
const MAX_PLANS: usize = 32;

/// Plans of one kind (cleanup, delete, lifecycle…), by id.
pub struct PlanStore<T> {
    plans: Mutex<Held<T>>,
}

/// The plans (with when each was made) and the last id given out.
struct Held<T>(BTreeMap<u64, (Instant, T)>, u64);

impl<T> Default for PlanStore<T> {
    fn default() -> Self {
        PlanStore { plans: Mutex::new(Held(BTreeMap::new(), 0)) }
    }
}

impl<T: Clone> PlanStore<T> {
    /// Holds `plan`; returns its id.
    pub fn insert(&self, plan: T) -> u64 {
        let mut id = 0;
        self.insert_with(|i| {
            id = i;
            plan
        });
        id
    }

    /// Holds the plan `make` builds with its id (plans that show their own id); returns a copy.
    pub fn insert_with(&self, make: impl FnOnce(u64) -> T) -> T {
        let mut g = self.plans.lock().unwrap();
        g.1 += 1;
        let id = g.1;
        let plan = make(id);
        g.0.insert(id, (Instant::now(), plan.clone()));
        while g.0.len() > MAX_PLANS {
            g.0.pop_first();
        }
        plan
    }

    /// A copy of plan `id` without using it up (a savings estimate of a plan on screen).
    pub fn get(&self, id: u64) -> Result<T> {
        let g = self.plans.lock().unwrap();
        match g.0.get(&id) {
            Some((made, plan)) if made.elapsed() <= PLAN_TTL => Ok(plan.clone()),
            Some(_) => Err(expired(id)),
            None => Err(unknown(id)),
        }
    }

    /// Takes plan `id` to apply it: it cannot be applied twice.
    pub fn take(&self, id: u64) -> Result<T> {
        let mut g = self.plans.lock().unwrap();
        match g.0.remove(&id) {
            Some((made, plan)) if made.elapsed() <= PLAN_TTL => Ok(plan),
            Some(_) => Err(expired(id)),
            None => Err(unknown(id)),
        }
    }
}

fn unknown(id: u64) -> Error {
    Error::PlanStale(format!("plan {id} is not held (it was applied already, replaced by newer plans, or never made here)"))
}

fn expired(id: u64) -> Error {
    Error::PlanStale(format!("plan {id} is older than {} minutes", PLAN_TTL.as_secs() / 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_applied_once_and_unknown_ids_are_stale() {
        let store = PlanStore::default();
        let id = store.insert("delete a");
        assert_eq!(store.get(id).unwrap(), "delete a");
        assert_eq!(store.take(id).unwrap(), "delete a");
        assert_eq!(store.take(id).unwrap_err().code(), "plan_stale");
        assert_eq!(store.take(999).unwrap_err().code(), "plan_stale");
    }

    #[test]
    fn old_plans_are_dropped_beyond_the_cap() {
        let store = PlanStore::default();
        let first = store.insert(0);
        for i in 1..=MAX_PLANS {
            store.insert(i);
        }
        assert!(store.get(first).is_err());
        assert_eq!(store.get(first + MAX_PLANS as u64).unwrap(), MAX_PLANS);
    }
}
