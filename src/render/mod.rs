//! Renderers: the CSV user lists, the PDF narrative and the OSCAL documents, all from the
//! evaluation and evidence.json; and the portfolio of a many-tenant report.

pub mod csv;
pub mod oscal;
pub mod pdf;
pub mod period_csv;
pub mod portfolio;
pub mod world;
