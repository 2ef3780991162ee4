//! thaw-scenario
