//! thaw-net
