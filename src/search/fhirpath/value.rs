//! Exact decimals and partial date/time values with precision-aware comparison.
use std::cmp::Ordering;
use std::fmt;

/// A decimal as `m * 10^-s`, exact for everything FHIR JSON numbers carry in practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    pub m: i128,
    pub s: u32,
}

const MAX_SCALE: u32 = 30;

impl Dec {
    pub fn from_int(i: i64) -> Dec {
        Dec { m: i as i128, s: 0 }
    }

    pub fn parse(text: &str) -> Option<Dec> {
        let t = text.trim();
        let (mant, exp) = match t.find(['e', 'E']) {
            Some(p) => (&t[..p], t[p + 1..].parse::<i32>().ok()?),
            None => (t, 0),
        };
        let (neg, mant) = match mant.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, mant.strip_prefix('+').unwrap_or(mant)),
        };
        let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_digit()) || !fp.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if mant.contains('.') && fp.is_empty() {
            return None;
        }
        let digits = format!("{ip}{fp}");
        let mut m: i128 = digits.trim_start_matches('0').parse().unwrap_or(0);
        if digits.trim_start_matches('0').len() > 36 {
            return None;
        }
        let mut s = fp.len() as i32 - exp;
        while s < 0 {
            m = m.checked_mul(10)?;
            s += 1;
        }
        if s as u32 > MAX_SCALE + 6 {
            return None;
        }
        Some(Dec { m: if neg { -m } else { m }, s: s as u32 })
    }

    pub fn negate(self) -> Dec {
        Dec { m: -self.m, s: self.s }
    }

    pub fn is_integer(&self) -> bool {
        self.m % 10i128.pow(self.s) == 0
    }

    fn rescale(self, s: u32) -> Option<i128> {
        if s < self.s {
            return None;
        }
        self.m.checked_mul(10i128.checked_pow(s - self.s)?)
    }

    fn align(a: Dec, b: Dec) -> Option<(i128, i128, u32)> {
        let s = a.s.max(b.s);
        Some((a.rescale(s)?, b.rescale(s)?, s))
    }

    pub fn to_f64(self) -> f64 {
        self.m as f64 / 10f64.powi(self.s as i32)
    }

    /// From f64 (used for division and math functions, where exactness is not promised).
    pub fn from_f64(v: f64) -> Option<Dec> {
        if !v.is_finite() {
            return None;
        }
        let d = Dec::parse(&format!("{v:.8}"))?;
        Some(d.trim())
    }

    /// Removes trailing fractional zeros.
    pub fn trim(mut self) -> Dec {
        while self.s > 0 && self.m % 10 == 0 {
            self.m /= 10;
            self.s -= 1;
        }
        self
    }

    pub fn cmp_num(&self, o: &Dec) -> Ordering {
        match Dec::align(*self, *o) {
            Some((a, b, _)) => a.cmp(&b),
            None => self.to_f64().partial_cmp(&o.to_f64()).unwrap_or(Ordering::Equal),
        }
    }

    pub fn plus(self, o: Dec) -> Option<Dec> {
        let (a, b, s) = Dec::align(self, o)?;
        Some(Dec { m: a.checked_add(b)?, s })
    }
    pub fn minus(self, o: Dec) -> Option<Dec> {
        self.plus(o.negate())
    }
    pub fn times(self, o: Dec) -> Option<Dec> {
        let d = Dec { m: self.m.checked_mul(o.m)?, s: self.s + o.s };
        Some(if d.s > MAX_SCALE { d.round(MAX_SCALE) } else { d })
    }
    pub fn divide(self, o: Dec) -> Option<Dec> {
        if o.m == 0 {
            return None;
        }
        // long division to 8 fractional digits beyond the operands' scale, then trimmed
        let (a, b, _) = Dec::align(self, o)?;
        let scale = 8u32;
        let num = a.checked_mul(10i128.pow(scale + 1))?;
        let q = num / b;
        let r = if q % 10 >= 5 { q / 10 + 1 } else if q % 10 <= -5 { q / 10 - 1 } else { q / 10 };
        Some(Dec { m: r, s: scale }.trim())
    }
    /// Truncating integer division and modulo.
    pub fn div_trunc(self, o: Dec) -> Option<i128> {
        let (a, b, _) = Dec::align(self, o)?;
        if b == 0 { None } else { Some(a / b) }
    }
    pub fn modulo(self, o: Dec) -> Option<Dec> {
        let (a, b, s) = Dec::align(self, o)?;
        if b == 0 { None } else { Some(Dec { m: a % b, s }) }
    }

    /// Round half away from zero to `p` fractional digits.
    pub fn round(self, p: u32) -> Dec {
        if p >= self.s {
            return self;
        }
        let f = 10i128.pow(self.s - p);
        let q = self.m / f;
        let r = self.m % f;
        let adj = if r.abs() * 2 >= f { r.signum() } else { 0 };
        Dec { m: q + adj, s: p }
    }
    pub fn floor(self) -> i128 {
        let f = 10i128.pow(self.s);
        self.m.div_euclid(f)
    }
    pub fn ceil(self) -> i128 {
        let f = 10i128.pow(self.s);
        -(-self.m).div_euclid(f)
    }
    pub fn trunc(self) -> i128 {
        self.m / 10i128.pow(self.s)
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.m < 0;
        let digits = self.m.unsigned_abs().to_string();
        let s = self.s as usize;
        let sign = if neg { "-" } else { "" };
        if s == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = if digits.len() <= s { format!("{}{}", "0".repeat(s + 1 - digits.len()), digits) } else { digits };
        let (ip, fp) = padded.split_at(padded.len() - s);
        write!(f, "{sign}{ip}.{fp}")
    }
}

/// Calendar duration keywords -> canonical UCUM unit.
pub fn calendar_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "year" | "years" => "year",
        "month" | "months" => "month",
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        _ => return None,
    })
}

/// Unit canonicalisation for quantity equality: calendar words and UCUM codes.
pub fn canonical_unit(u: &str) -> &str {
    calendar_unit(u).unwrap_or(u)
}

/// A value in base units (`g`, `m`, `s`, `L`) for the common UCUM units; `None` when the
/// unit is not known here (such quantities compare only with the same unit).
pub fn normalize(v: Dec, unit: &str) -> Option<(Dec, &'static str)> {
    let (factor, base) = match canonical_unit(unit) {
        "g" => ("1", "g"), "mg" => ("0.001", "g"), "kg" => ("1000", "g"), "ug" => ("0.000001", "g"),
        "[lb_av]" => ("453.59237", "g"), "[oz_av]" => ("28.349523125", "g"),
        "m" => ("1", "m"), "cm" => ("0.01", "m"), "mm" => ("0.001", "m"), "km" => ("1000", "m"),
        "[in_i]" => ("0.0254", "m"), "[ft_i]" => ("0.3048", "m"),
        "s" => ("1", "s"), "ms" => ("0.001", "s"), "min" => ("60", "s"), "h" => ("3600", "s"),
        "d" => ("86400", "s"), "wk" => ("604800", "s"),
        "L" | "l" => ("1", "L"), "mL" | "ml" => ("0.001", "L"), "dL" | "dl" => ("0.1", "L"),
        _ => return None,
    };
    Some((v.times(Dec::parse(factor)?)?, base))
}

/// A parsed partial date, date-time or time. `parts` are year, month, day, hour, minute,
/// milliseconds-of-minute (for a time: hour, minute, ms). Seconds and milliseconds are one
/// precision, as the FHIRPath specification requires for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Temporal {
    pub parts: Vec<i64>,
    pub tz: Option<i64>,
    pub is_time: bool,
}

fn num(s: &str, len: usize) -> Option<i64> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
}

pub fn parse_time_parts(t: &str) -> Option<(Vec<i64>, Option<i64>)> {
    let (body, tz) = if let Some(b) = t.strip_suffix('Z') {
        (b, Some(0))
    } else if let Some(p) = t.rfind(['+', '-']) {
        let (b, z) = t.split_at(p);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (h, m) = z[1..].split_once(':')?;
        (b, Some(sign * (num(h, 2)? * 60 + num(m, 2)?)))
    } else {
        (t, None)
    };
    let mut parts = Vec::new();
    let mut it = body.split(':');
    let h = num(it.next()?, 2)?;
    if h > 23 { return None; }
    parts.push(h);
    if let Some(m) = it.next() {
        let m = num(m, 2)?;
        if m > 59 { return None; }
        parts.push(m);
        if let Some(s) = it.next() {
            let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
            let sec = num(sec, 2)?;
            if sec > 59 || !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
                return None;
            }
            let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
            parts.push(sec * 1000 + ms);
        }
    }
    if it.next().is_some() {
        return None;
    }
    Some((parts, tz))
}

impl Temporal {
    pub fn parse_date_time(s: &str) -> Option<Temporal> {
        let (d, t) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let mut parts = Vec::new();
        let mut it = d.split('-');
        parts.push(num(it.next()?, 4)?);
        for (max, _) in [(12, 'm'), (31, 'd')] {
            match it.next() {
                Some(p) => {
                    let v = num(p, 2)?;
                    if v < 1 || v > max { return None; }
                    parts.push(v);
                }
                None => break,
            }
        }
        if it.next().is_some() {
            return None;
        }
        let mut tz = None;
        if let Some(t) = t.filter(|t| !t.is_empty()) {
            if parts.len() != 3 { return None; }
            let (tp, z) = parse_time_parts(t)?;
            parts.extend(tp);
            tz = z;
        }
        Some(Temporal { parts, tz, is_time: false })
    }

    pub fn parse_time(s: &str) -> Option<Temporal> {
        let (parts, tz) = parse_time_parts(s)?;
        Some(Temporal { parts, tz, is_time: true })
    }

    /// Shifts a date-time with a timezone (and at least hour precision) to UTC.
    fn utc(&self) -> Vec<i64> {
        let (Some(tz), false) = (self.tz, self.is_time) else { return self.parts.clone() };
        if self.parts.len() < 4 || tz == 0 {
            return self.parts.clone();
        }
        let p = &self.parts;
        let Some(date) = chrono::NaiveDate::from_ymd_opt(p[0] as i32, p[1] as u32, p[2] as u32) else {
            return self.parts.clone();
        };
        let mins = p[3] * 60 + p.get(4).copied().unwrap_or(0) - tz;
        let day_shift = mins.div_euclid(1440);
        let mins = mins.rem_euclid(1440);
        let date = date + chrono::Duration::days(day_shift);
        use chrono::Datelike;
        let mut out = vec![date.year() as i64, date.month() as i64, date.day() as i64, mins / 60];
        if p.len() > 4 {
            out.push(mins % 60);
        }
        out.extend(p.iter().skip(5));
        out
    }

    /// `None` when the answer depends on the missing precision.
    pub fn compare(&self, o: &Temporal) -> Option<Ordering> {
        let timed = |t: &Temporal| t.parts.len() > if t.is_time { 0 } else { 3 };
        if timed(self) && timed(o) && self.tz.is_some() != o.tz.is_some() {
            return None;
        }
        let (a, b) = if self.tz.is_some() && o.tz.is_some() { (self.utc(), o.utc()) } else { (self.parts.clone(), o.parts.clone()) };
        for i in 0..a.len().min(b.len()) {
            match a[i].cmp(&b[i]) {
                Ordering::Equal => {}
                ord => return Some(ord),
            }
        }
        if a.len() == b.len() { Some(Ordering::Equal) } else { None }
    }
}
