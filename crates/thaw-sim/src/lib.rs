//! thaw-sim
