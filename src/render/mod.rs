//! Renderers: the CSV user lists and the PDF narrative, all from the evaluation and evidence.json.

pub mod csv;
pub mod pdf;
pub mod period_csv;
pub mod world;
