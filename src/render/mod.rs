//! Renderers: the CSV user lists, the PDF narrative and the OSCAL documents, all from the
//! evaluation and evidence.json.

pub mod csv;
pub mod oscal;
pub mod pdf;
pub mod period_csv;
pub mod world;
