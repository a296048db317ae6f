//! TIME-WAIT, measured on the test bed: the avoidance settings side by side
//! ([`matrix`], `synfin tw-matrix`), the two hazards TIME-WAIT guards against
//! reproduced against the kernel ([`hazard`], `synfin hazard`), the sysctls set for
//! them and put back ([`sysctl`]), and the charts of the report ([`svg`]).

pub mod hazard;
pub mod matrix;
pub mod svg;
pub mod sysctl;
