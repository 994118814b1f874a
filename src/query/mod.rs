//! SQL over the lake: the functions flowlake adds to DataFusion.
//!
//! Why: the network questions ("is this peer outside?", "which /24?") need address logic that
//! SQL engines lack. Every function is registered through [`register_all`], so the CLI, the
//! tests and any later executor get the same set.

pub mod functions;

use datafusion::prelude::SessionContext;

/// Registers every flowlake function on a context (the built-ins stay).
pub fn register_all(ctx: &SessionContext) {
    for f in functions::all() {
        ctx.register_udf(f);
    }
}
