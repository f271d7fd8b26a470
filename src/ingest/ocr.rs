//! OCR for pages without a text layer: Tesseract's CLI (Debian `tesseract-ocr`,
//! `tesseract-ocr-eng`) on pages rasterised by `pdftoppm` (`poppler-utils`). Words come
//! back with boxes and confidences (TSV), grouped into lines and cells like a text layer.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::layout::{build_lines, Line, Page, TextOrigin};
use super::{IngestError, TextSource};

pub struct TesseractOcr {
    pub tesseract: PathBuf,
    pub pdftoppm: PathBuf,
    /// Rasterisation resolution when a page's scan resolution is unknown.
    pub dpi: u32,
}

fn works(cmd: &str, arg: &str) -> bool {
    Command::new(cmd).arg(arg).output().is_ok_and(|o| o.status.success() || !o.stderr.is_empty() || !o.stdout.is_empty())
}

impl TesseractOcr {
    /// The engine when both programs are installed.
    pub fn detect() -> Option<TesseractOcr> {
        (works("tesseract", "--version") && works("pdftoppm", "-v")).then(|| TesseractOcr { tesseract: "tesseract".into(), pdftoppm: "pdftoppm".into(), dpi: 300 })
    }

    fn tesseract_tsv(&self, image: &Path) -> Result<String, IngestError> {
        let out = Command::new(&self.tesseract)
            .arg(image)
            .arg("stdout")
            .args(["--psm", "6", "-l", "eng", "tsv"])
            .env("OMP_THREAD_LIMIT", "1")
            .output()
            .map_err(|e| IngestError::Ocr(format!("tesseract could not run: {e}")))?;
        if !out.status.success() {
            return Err(IngestError::Ocr(format!("tesseract failed: {}", String::from_utf8_lossy(&out.stderr).chars().take(300).collect::<String>())));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// OCR of an image file (PNG, JPEG, TIFF): `height_pt` is the page height in points.
    pub fn ocr_image_file(&self, image: &Path, number: usize, dpi: f32) -> Result<Page, IngestError> {
        let tsv = self.tesseract_tsv(image)?;
        Ok(Page { number, origin: TextOrigin::Ocr, lines: lines_from_tsv(&tsv, number, 72.0 / dpi) })
    }

    fn image(&self, bytes: &[u8], ext: &str) -> Result<Page, IngestError> {
        let dir = TempDir::new()?;
        let path = dir.0.join(format!("page.{ext}"));
        std::fs::write(&path, bytes).map_err(|e| IngestError::Ocr(e.to_string()))?;
        // Images carry no resolution we trust; 300 dpi is the usual scan.
        self.ocr_image_file(&path, 1, 300.0)
    }
}

impl TextSource for TesseractOcr {
    fn name(&self) -> &'static str {
        "tesseract"
    }

    fn ocr_image(&self, bytes: &[u8], ext: &str) -> Result<Page, IngestError> {
        self.image(bytes, ext)
    }

    fn ocr_page(&self, pdf: &[u8], number: usize) -> Result<Page, IngestError> {
        let dir = TempDir::new()?;
        let input = dir.0.join("in.pdf");
        std::fs::write(&input, pdf).map_err(|e| IngestError::Ocr(e.to_string()))?;
        let n = number.to_string();
        let dpi = render_dpi(self.scan_ppi(&input, number), self.dpi);
        let out = Command::new(&self.pdftoppm)
            .args(["-r", &dpi.to_string(), "-gray", "-f", &n, "-l", &n])
            .arg(&input)
            .arg(dir.0.join("page"))
            .output()
            .map_err(|e| IngestError::Ocr(format!("pdftoppm could not run: {e}")))?;
        if !out.status.success() {
            return Err(IngestError::Corrupt(format!("page {number} could not be rasterised")));
        }
        let image = std::fs::read_dir(&dir.0)
            .map_err(|e| IngestError::Ocr(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "pgm"))
            .ok_or_else(|| IngestError::Ocr(format!("pdftoppm produced no image of page {number}")))?;
        if let Ok(data) = std::fs::read(&image) {
            if let Some(clean) = despeckle_pgm(&data) {
                let _ = std::fs::write(&image, clean);
            }
        }
        self.ocr_image_file(&image, number, dpi as f32)
    }
}

impl TesseractOcr {
    /// The resolution of the largest image on a page (`pdfimages -list`, poppler-utils, the
    /// package of `pdftoppm`), if it can be told.
    fn scan_ppi(&self, pdf: &Path, number: usize) -> Option<u32> {
        let tool = self.pdftoppm.with_file_name("pdfimages");
        let n = number.to_string();
        let out = Command::new(tool).args(["-list", "-f", &n, "-l", &n]).arg(pdf).output().ok()?;
        out.status.success().then_some(())?;
        largest_image_ppi(&String::from_utf8_lossy(&out.stdout))
    }
}

/// x-ppi of the largest image in a `pdfimages -list` table.
pub fn largest_image_ppi(list: &str) -> Option<u32> {
    list.lines()
        .skip(2)
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            let (w, h, ppi) = (c.get(3)?.parse::<u64>().ok()?, c.get(4)?.parse::<u64>().ok()?, c.get(12)?.parse::<u32>().ok()?);
            (c.get(2) == Some(&"image")).then_some((w * h, ppi))
        })
        .max()
        .map(|(_, ppi)| ppi)
}

/// The rasterisation resolution for a page scanned at `ppi`: the smallest whole multiple
/// of it from 300 dpi (whole multiples keep strokes sharp; small print needs the height),
/// at most 500.
pub fn render_dpi(ppi: Option<u32>, default: u32) -> u32 {
    match ppi {
        Some(p) if (50..=1200).contains(&p) => {
            let m = p * 300u32.div_ceil(p);
            if m <= 500 { m } else { p.clamp(300, 500) }
        }
        _ => default,
    }
}

/// Tesseract TSV (level 5 = words) -> lines of cells. Words keep Tesseract's own line
/// grouping (robust to a slight skew); within a line, words closer than ~0.8 of the line
/// height form one cell. Coordinates are converted to points from the top-left origin
/// (y grows downwards here, then negated so that lines sort top to bottom).
pub fn lines_from_tsv(tsv: &str, page: usize, scale: f32) -> Vec<Line> {
    let mut groups: Vec<((u32, u32, u32), Vec<(String, f32, f32, f32, f32, f32)>)> = Vec::new();
    for row in tsv.lines().skip(1) {
        let c: Vec<&str> = row.split('\t').collect();
        if c.len() < 12 || c[0] != "5" {
            continue;
        }
        let text = letter_l(c[11].trim());
        let text = text.as_str();
        let num = |i: usize| c[i].parse::<f32>().unwrap_or(0.0);
        // specks read as punctuation: short, low confidence, nothing alphanumeric
        let junk = !text.chars().any(char::is_alphanumeric) && text.chars().count() <= 2 && num(10) < 60.0;
        if text.is_empty() || junk || (num(10) < 30.0 && text.chars().count() <= 3 && !is_month_abbrev(text)) {
            continue;
        }
        let key = (num(2) as u32, num(3) as u32, num(4) as u32);
        // Tesseract's word confidence is optimistic (misreads often score 90+): cubed, only
        // near-certain words stay above 0.9 (calibrated on the scanned corpus).
        let conf = (num(10) / 100.0).clamp(0.0, 1.0).powi(3);
        // a trailing space keeps OCR words apart when they are joined into a cell
        let run = (format!("{text} "), num(6) * scale, -(num(7) + num(9)) * scale, num(8) * scale, num(9) * scale, conf);
        match groups.last_mut() {
            Some((k, words)) if *k == key => words.push(run),
            _ => groups.push((key, vec![run])),
        }
    }
    let mut out = Vec::new();
    for (_, mut words) in groups {
        let height = words.iter().map(|w| w.4).fold(0.0, f32::max);
        let y = words.iter().map(|w| w.2).sum::<f32>() / words.len() as f32;
        for w in words.iter_mut() {
            w.2 = y;
            w.4 = height * 0.75;
        }
        out.extend(build_lines(page, words));
    }
    out
}

/// `!` right after a letter is an `l` Tesseract misread ("amlod!ipine", "Ora!").
pub fn letter_l(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut prev: Option<char> = None;
    for c in word.chars() {
        out.push(if c == '!' && prev.is_some_and(char::is_alphabetic) { 'l' } else { c });
        prev = Some(c);
    }
    out
}

/// A private temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, IngestError> {
        let p = std::env::temp_dir().join(format!("hearth-ingest-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).map_err(|e| IngestError::Ocr(format!("no temporary folder: {e}")))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes specks from a binary-ish grayscale PGM (P5): a dark pixel with at most 4 dark
/// pixels in its 5x5 neighbourhood is noise, not a stroke (a full stop at 9 pt and 300 dpi
/// is about 3x3). Returns `None` when the data is not an 8-bit P5 image.
pub fn despeckle_pgm(data: &[u8]) -> Option<Vec<u8>> {
    // header: P5 <ws> width <ws> height <ws> maxval <one ws>
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < data.len() && data[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < data.len() && !data[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            return None;
        }
        fields.push(std::str::from_utf8(&data[start..i]).ok()?.to_string());
    }
    i += 1;
    let (w, h): (usize, usize) = (fields[1].parse().ok()?, fields[2].parse().ok()?);
    if fields[0] != "P5" || fields[3] != "255" || data.len() < i + w * h {
        return None;
    }
    let px = &data[i..i + w * h];
    // summed-area table of dark pixels
    let mut sat = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        for x in 0..w {
            row += (px[y * w + x] < 128) as u32;
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = data[..i].to_vec();
    let mut img = px.to_vec();
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(2), (y + 3).min(h));
        for x in 0..w {
            if px[y * w + x] >= 128 {
                continue;
            }
            let (x0, x1) = (x.saturating_sub(2), (x + 3).min(w));
            let n = sat[y1 * (w + 1) + x1] + sat[y0 * (w + 1) + x0] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0];
            if n <= 4 {
                img[y * w + x] = 255;
            }
        }
    }
    out.extend_from_slice(&img);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bang_after_a_letter_is_an_l() {
        assert_eq!(letter_l("Ora!"), "Oral");
        assert_eq!(letter_l("amlod!ipine"), "amlodlipine");
        assert_eq!(letter_l("!"), "!");
        assert_eq!(letter_l("5!"), "5!");
    }

    #[test]
    fn pages_are_rendered_at_a_whole_multiple_of_their_scan_resolution() {
        let list = "page   num  type   width height color comp bpc  enc interp  object ID x-ppi y-ppi size ratio\n\
            ----------------------------------------------------------\n   \
            1     0 image    1700  2200  gray    1   8  image  no         3  0   200   200  135K 3.7%\n   \
            1     1 smask      17    22  gray    1   8  image  no         4  0    72    72  1K 3.7%\n   \
            1     2 image      17    22  gray    1   8  image  no         5  0    72    72  1K 3.7%\n";
        assert_eq!(largest_image_ppi(list), Some(200));
        assert_eq!(largest_image_ppi("page num\n---\n"), None);
        assert_eq!(render_dpi(Some(200), 300), 400);
        assert_eq!(render_dpi(Some(300), 300), 300);
        assert_eq!(render_dpi(Some(150), 300), 300);
        assert_eq!(render_dpi(Some(72), 300), 360);
        assert_eq!(render_dpi(Some(400), 300), 400);
        assert_eq!(render_dpi(Some(1200), 300), 500);
        assert_eq!(render_dpi(None, 300), 300);
    }

    #[test]
    fn specks_go_strokes_stay() {
        let (w, h) = (20usize, 10usize);
        let mut px = vec![255u8; w * h];
        px[2 * w + 2] = 0; // a speck
        for y in 4..8 {
            for x in 10..13 {
                px[y * w + x] = 0; // a 3x4 stroke
            }
        }
        let mut pgm = format!("P5\n{w} {h}\n255\n").into_bytes();
        pgm.extend_from_slice(&px);
        let out = despeckle_pgm(&pgm).expect("pgm");
        let body = &out[out.len() - w * h..];
        assert_eq!(body[2 * w + 2], 255);
        assert_eq!(body[5 * w + 11], 0);
    }

    #[test]
    fn tsv_words_become_cells() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
5\t1\t1\t1\t1\t1\t100\t100\t120\t40\t96\tHeart\n\
5\t1\t1\t1\t1\t2\t235\t100\t100\t40\t95\tRate:\n\
5\t1\t1\t1\t1\t3\t1200\t102\t60\t40\t90\t72\n\
5\t1\t1\t1\t1\t4\t1500\t102\t20\t10\t3\t.\n";
        let lines = lines_from_tsv(tsv, 1, 72.0 / 300.0);
        assert_eq!(lines.len(), 1);
        let texts: Vec<&str> = lines[0].cells.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["Heart Rate:", "72"]);
        // Tesseract's 90 is cubed: 0.729
        assert!((lines[0].cells[1].confidence - 0.729).abs() < 1e-3);
    }
}

fn is_month_abbrev(t: &str) -> bool {
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].contains(&t.to_lowercase().as_str())
}
