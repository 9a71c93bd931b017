//! The Typst world the PDF narrative is compiled in: one template, the data as virtual files, the
//! fonts embedded in the binary, and a fixed date.
//!
//! Nothing here reads the file system, the network or the clock: the template and the fonts are
//! compiled in, `/evidence.json` and `/files.json` are served from memory, and `today()` is the
//! as-of date of the evidence. That is what makes the PDF byte-identical for the same inputs.

use std::collections::HashMap;
use std::sync::LazyLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

/// The report template, compiled into the binary.
pub const TEMPLATE: &str = include_str!("../../templates/report.typ");

/// The template's path inside the world, as it appears in error messages.
pub const TEMPLATE_PATH: &str = "/report.typ";

/// The virtual file holding the evidence document.
pub const EVIDENCE_PATH: &str = "/evidence.json";

/// The virtual file holding the package's other files (path, size, sha256).
pub const FILES_PATH: &str = "/files.json";

/// The virtual file holding notes from the renderer (characters replaced for want of a glyph).
pub const NOTES_PATH: &str = "/render.json";

/// Every font the PDF may use. Inter sets the text, DejaVu Sans covers what Inter lacks (Arabic,
/// Hebrew, symbols), DejaVu Sans Mono sets ids and hashes. Licences are beside them in fonts/.
const FONT_FILES: [&[u8]; 6] = [
    include_bytes!("../../fonts/Inter-Regular.otf"),
    include_bytes!("../../fonts/Inter-Italic.otf"),
    include_bytes!("../../fonts/Inter-SemiBold.otf"),
    include_bytes!("../../fonts/Inter-Bold.otf"),
    include_bytes!("../../fonts/DejaVuSans.ttf"),
    include_bytes!("../../fonts/DejaVuSansMono.ttf"),
];

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

/// Parsed once per process: parsing the faces costs a few milliseconds, not worth repeating.
static FONTS: LazyLock<Fonts> = LazyLock::new(|| {
    let fonts: Vec<Font> = FONT_FILES
        .iter()
        .flat_map(|data| Font::iter(Bytes::new(*data)))
        .collect();
    Fonts {
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

static LIBRARY: LazyLock<LazyHash<Library>> =
    LazyLock::new(|| LazyHash::new(Library::builder().build()));

/// Whether some embedded font has a glyph for `c`.
///
/// PDF/A forbids text that shows the `.notdef` glyph, so text with characters no font covers
/// would fail the export; the renderer replaces such characters before the template sees them.
pub fn font_covers(c: char) -> bool {
    FONTS
        .fonts
        .iter()
        .any(|font| font.info().coverage.contains(c as u32))
}

/// The id of one of the world's fixed paths (the constants above).
fn file_id(path: &'static str) -> FileId {
    // The paths are absolute constants that never leave the root, which is all `new` checks.
    let vpath = VirtualPath::new(path).expect("a constant absolute virtual path is valid");
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

/// The world of one render.
pub struct ReportWorld {
    main: Source,
    files: HashMap<FileId, Bytes>,
    /// UTC date and time of the evidence (its `as_of`).
    as_of: chrono::DateTime<chrono::Utc>,
}

impl ReportWorld {
    /// A world compiling `template`, with `evidence` and `files` served as `/evidence.json` and
    /// `/files.json`, `notes` as `/render.json`, and `as_of` as the current time.
    pub fn new(
        template: &str,
        evidence: Vec<u8>,
        files: Vec<u8>,
        notes: Vec<u8>,
        as_of: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let main = Source::new(file_id(TEMPLATE_PATH), template.to_owned());
        let files = HashMap::from([
            (file_id(EVIDENCE_PATH), Bytes::new(evidence)),
            (file_id(FILES_PATH), Bytes::new(files)),
            (file_id(NOTES_PATH), Bytes::new(notes)),
        ]);
        Self { main, files, as_of }
    }

    /// The template source, to map diagnostics to lines and columns.
    pub fn main_source(&self) -> &Source {
        &self.main
    }
}

/// A Typst datetime from a chrono one (UTC, whole seconds).
pub fn typst_datetime(t: chrono::DateTime<chrono::Utc>) -> Option<Datetime> {
    use chrono::{Datelike, Timelike};
    Datetime::from_ymd_hms(
        t.year(),
        u8::try_from(t.month()).ok()?,
        u8::try_from(t.day()).ok()?,
        u8::try_from(t.hour()).ok()?,
        u8::try_from(t.minute()).ok()?,
        u8::try_from(t.second()).ok()?,
    )
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if let Some(bytes) = self.files.get(&id) {
            return Ok(bytes.clone());
        }
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        Err(FileError::NotFound(
            id.get().vpath().get_with_slash().into(),
        ))
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.fonts.get(index).cloned()
    }

    /// The as-of date: the evidence is dated by its data, never by the clock.
    fn today(&self, offset: Option<Duration>) -> Option<Datetime> {
        let seconds = offset.map_or(0, |d| d.seconds() as i64);
        let t = self.as_of + chrono::Duration::seconds(seconds);
        use chrono::Datelike;
        Datetime::from_ymd(
            t.year(),
            u8::try_from(t.month()).ok()?,
            u8::try_from(t.day()).ok()?,
        )
    }
}
