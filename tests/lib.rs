//! Host crate for the workspace integration tests in `suite/`.
