//! String, math, conversion and date functions.
use regex::Regex;

use super::eval::{dec_of, one_int, one_str, Env};
use super::nav::prim;
use super::ops::R;
use super::parser::Ast;
use super::value::{calendar_unit, Temporal};
use super::{Dec, Item};

/// The string form of a single value (as `toString()` gives it).
pub fn to_string(it: &Item<'_>) -> Option<String> {
    Some(match prim(it) {
        Item::Bool(b) => b.to_string(),
        Item::Int(i) => i.to_string(),
        Item::Decimal(d) => d.to_string(),
        Item::Str(s) | Item::Date(s) | Item::DateTime(s) | Item::Time(s) => s,
        Item::Quantity { value, unit } => {
            let u = if calendar_unit(&unit).is_some() { unit } else { format!("'{unit}'") };
            format!("{value} {u}")
        }
        _ => return None,
    })
}

fn single<'a>(input: &[Item<'a>], name: &str) -> Result<Option<Item<'a>>, String> {
    match input {
        [] => Ok(None),
        [x] => Ok(Some(prim(x))),
        _ => Err(format!("{name}(): input has more than one item")),
    }
}

fn qty_re() -> Option<&'static Regex> {
    static RE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-z]+))?$").ok()).as_ref()
}

/// Conversion of one value to the named System type (`None` = not convertible).
fn convert<'a>(it: &Item<'a>, to: &str) -> Option<Item<'a>> {
    let it = prim(it);
    match to {
        "Boolean" => match &it {
            Item::Bool(_) => Some(it),
            Item::Int(1) => Some(Item::Bool(true)),
            Item::Int(0) => Some(Item::Bool(false)),
            Item::Decimal(d) if d.cmp_num(&Dec::from_int(1)).is_eq() => Some(Item::Bool(true)),
            Item::Decimal(d) if d.m == 0 => Some(Item::Bool(false)),
            Item::Str(s) => match s.to_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Item::Bool(true)),
                "false" | "f" | "no" | "n" | "0" | "0.0" => Some(Item::Bool(false)),
                _ => None,
            },
            _ => None,
        },
        "Integer" => match &it {
            Item::Int(_) => Some(it),
            Item::Bool(b) => Some(Item::Int(*b as i64)),
            Item::Str(s) => {
                let t = s.strip_prefix('+').unwrap_or(s);
                if t.strip_prefix('-').unwrap_or(t).bytes().all(|b| b.is_ascii_digit()) { t.parse().ok().map(Item::Int) } else { None }
            }
            _ => None,
        },
        "Decimal" => match &it {
            Item::Int(i) => Some(Item::Decimal(Dec::from_int(*i))),
            Item::Decimal(_) => Some(it),
            Item::Bool(b) => Some(Item::Decimal(Dec::from_int(*b as i64))),
            Item::Str(s) if !s.contains(['e', 'E']) => Dec::parse(s).map(Item::Decimal),
            _ => None,
        },
        "String" => to_string(&it).map(Item::Str),
        "Date" => match &it {
            Item::Date(_) => Some(it),
            Item::DateTime(s) => Some(Item::Date(s.split('T').next().unwrap_or(s).to_string())),
            Item::Str(s) if !s.contains('T') && Temporal::parse_date_time(s).is_some() => Some(Item::Date(s.clone())),
            _ => None,
        },
        "DateTime" => match &it {
            Item::DateTime(_) => Some(it),
            Item::Date(s) => Some(Item::DateTime(s.clone())),
            Item::Str(s) if Temporal::parse_date_time(s).is_some() => Some(Item::DateTime(s.clone())),
            _ => None,
        },
        "Time" => match &it {
            Item::Time(_) => Some(it),
            Item::Str(s) if Temporal::parse_time(s).is_some() => Some(Item::Time(s.clone())),
            _ => None,
        },
        "Quantity" => match &it {
            Item::Quantity { .. } => Some(it),
            Item::Int(_) | Item::Decimal(_) => dec_of(&it).map(|value| Item::Quantity { value, unit: "1".into() }),
            Item::Bool(b) => Some(Item::Quantity { value: Dec::from_int(*b as i64), unit: "1".into() }),
            Item::Str(s) => {
                let c = qty_re()?.captures(s.trim())?;
                let value = Dec::parse(c.get(1)?.as_str())?;
                let unit = match (c.get(2), c.get(3)) {
                    (Some(u), _) => u.as_str().to_string(),
                    (None, Some(w)) => { calendar_unit(w.as_str())?; w.as_str().to_string() }
                    _ => "1".to_string(),
                };
                Some(Item::Quantity { value, unit })
            }
            _ => None,
        },
        _ => None,
    }
}

pub fn call<'a>(name: &str, input: Vec<Item<'a>>, _args: &[Ast], _env: &Env<'a>, arg: &dyn Fn(usize) -> R<'a>) -> R<'a> {
    if let Some(to) = name.strip_prefix("convertsTo") {
        return match single(&input, name)? {
            None => Ok(vec![]),
            Some(x) => Ok(vec![Item::Bool(convert(&x, to).is_some())]),
        };
    }
    if let Some(to) = name.strip_prefix("to").filter(|t| matches!(*t, "Boolean" | "Integer" | "Decimal" | "String" | "Date" | "DateTime" | "Time" | "Quantity")) {
        return Ok(single(&input, name)?.and_then(|x| convert(&x, to)).into_iter().collect());
    }
    let str_fns = ["indexOf", "substring", "startsWith", "endsWith", "contains", "upper", "lower", "replace", "matches",
        "replaceMatches", "length", "toChars", "trim", "split", "encode", "decode", "escape", "unescape", "matchesFull"];
    if str_fns.contains(&name) {
        let Some(x) = single(&input, name)? else { return Ok(vec![]) };
        let Item::Str(s) = x else { return Err(format!("{name}(): input is not a string")) };
        return string_fn(name, &s, arg);
    }
    match name {
        "lowBoundary" | "highBoundary" | "precision" | "comparable" => super::funcs_bound::call(name, input, _args, _env, arg),
        "join" => {
            let sep = if _args.is_empty() { String::new() } else { one_str(&arg(0)?)?.unwrap_or_default() };
            let parts: Vec<String> = input.iter().filter_map(to_string).collect();
            Ok(vec![Item::Str(parts.join(&sep))])
        }
        "abs" | "ceiling" | "floor" | "truncate" | "round" | "sqrt" | "exp" | "ln" | "log" | "power" => {
            let Some(x) = single(&input, name)? else { return Ok(vec![]) };
            math(name, x, arg)
        }
        "now" => Ok(vec![Item::DateTime(chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string())]),
        "today" => Ok(vec![Item::Date(chrono::Local::now().format("%Y-%m-%d").to_string())]),
        "timeOfDay" => Ok(vec![Item::Time(chrono::Local::now().format("%H:%M:%S%.3f").to_string())]),
        _ => Err(format!("unknown function {name}()")),
    }
}

fn string_fn<'a>(name: &str, s: &str, arg: &dyn Fn(usize) -> R<'a>) -> R<'a> {
    let sarg = |i: usize| -> Result<Option<String>, String> { one_str(&arg(i)?) };
    let chars: Vec<char> = s.chars().collect();
    let out = match name {
        "indexOf" => {
            let Some(n) = sarg(0)? else { return Ok(vec![]) };
            Item::Int(s.find(&n).map(|b| s[..b].chars().count() as i64).unwrap_or(-1))
        }
        "substring" => {
            let Some(start) = one_int(&arg(0)?)? else { return Ok(vec![]) };
            if start < 0 || start as usize >= chars.len() {
                return Ok(vec![]);
            }
            let len = match arg(1) {
                Ok(c) => one_int(&c)?,
                Err(_) => None,
            };
            let end = len.map(|l| (start + l.max(0)) as usize).unwrap_or(chars.len()).min(chars.len());
            Item::Str(chars[start as usize..end].iter().collect())
        }
        "startsWith" => { let Some(p) = sarg(0)? else { return Ok(vec![]) }; Item::Bool(s.starts_with(&p)) }
        "endsWith" => { let Some(p) = sarg(0)? else { return Ok(vec![]) }; Item::Bool(s.ends_with(&p)) }
        "contains" => { let Some(p) = sarg(0)? else { return Ok(vec![]) }; Item::Bool(s.contains(&p)) }
        "upper" => Item::Str(s.to_uppercase()),
        "lower" => Item::Str(s.to_lowercase()),
        "length" => Item::Int(chars.len() as i64),
        "trim" => Item::Str(s.trim().to_string()),
        "toChars" => return Ok(chars.iter().map(|c| Item::Str(c.to_string())).collect()),
        "replace" => {
            let (Some(p), Some(r)) = (sarg(0)?, sarg(1)?) else { return Ok(vec![]) };
            if p.is_empty() {
                let mut o = r.clone();
                for c in &chars { o.push(*c); o.push_str(&r); }
                Item::Str(o)
            } else {
                Item::Str(s.replace(&p, &r))
            }
        }
        "matches" | "matchesFull" | "replaceMatches" => {
            let Some(p) = sarg(0)? else { return Ok(vec![]) };
            let re = Regex::new(&format!("(?s){p}")).map_err(|e| format!("bad regex: {e}"))?;
            if name == "matches" {
                Item::Bool(re.is_match(s))
            } else if name == "matchesFull" {
                let full = Regex::new(&format!("(?s)^(?:{p})$")).map_err(|e| format!("bad regex: {e}"))?;
                Item::Bool(full.is_match(s))
            } else if p.is_empty() {
                Item::Str(s.to_string())
            } else {
                let Some(r) = sarg(1)? else { return Ok(vec![]) };
                Item::Str(re.replace_all(s, r.as_str()).into_owned())
            }
        }
        "split" => {
            let Some(sep) = sarg(0)? else { return Ok(vec![]) };
            return Ok(s.split(sep.as_str()).map(|p| Item::Str(p.to_string())).collect());
        }
        "encode" | "decode" | "escape" | "unescape" => {
            let Some(fmt) = sarg(0)? else { return Ok(vec![]) };
            match codec(name, &fmt, s) {
                Some(r) => Item::Str(r),
                None => return Ok(vec![]),
            }
        }
        _ => return Err(format!("{name}() is not supported")),
    };
    Ok(vec![out])
}

fn codec(name: &str, fmt: &str, s: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine;
    Some(match (name, fmt) {
        ("encode", "base64") => STANDARD.encode(s),
        ("encode", "urlbase64") => URL_SAFE.encode(s),
        ("encode", "hex") => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ("decode", "base64") => String::from_utf8(STANDARD.decode(s).ok()?).ok()?,
        ("decode", "urlbase64") => String::from_utf8(URL_SAFE.decode(s).ok()?).ok()?,
        ("decode", "hex") => {
            let bytes: Option<Vec<u8>> =
                (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
            String::from_utf8(bytes?).ok()?
        }
        ("escape", "html") => s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;"),
        ("unescape", "html") => s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&apos;", "'").replace("&amp;", "&"),
        ("escape", "json") => s.replace('\\', "\\\\").replace('"', "\\\""),
        ("unescape", "json") => s.replace("\\\"", "\"").replace("\\\\", "\\"),
        _ => return None,
    })
}

fn math<'a>(name: &str, x: Item<'a>, arg: &dyn Fn(usize) -> R<'a>) -> R<'a> {
    if let (Item::Quantity { value, unit }, "abs") = (&x, name) {
        return Ok(vec![Item::Quantity { value: Dec { m: value.m.abs(), s: value.s }, unit: unit.clone() }]);
    }
    let d = dec_of(&x).ok_or_else(|| format!("{name}(): input is not a number"))?;
    let is_int = matches!(x, Item::Int(_));
    let int = |v: i128| i64::try_from(v).ok().map(Item::Int);
    let f = |v: f64| Dec::from_f64(v).map(Item::Decimal);
    let r = match name {
        "abs" => if is_int { int(d.m.abs()) } else { Some(Item::Decimal(Dec { m: d.m.abs(), s: d.s })) },
        "ceiling" => int(d.ceil()),
        "floor" => int(d.floor()),
        "truncate" => int(d.trunc()),
        "round" => {
            let p = match arg(0) { Ok(c) => one_int(&c)?.unwrap_or(0), Err(_) => 0 };
            Some(Item::Decimal(d.round(p.max(0) as u32)))
        }
        "sqrt" => if d.m < 0 { None } else { f(d.to_f64().sqrt()) },
        "exp" => f(d.to_f64().exp()),
        "ln" => f(d.to_f64().ln()),
        "log" => {
            let Some(b) = arg(0)?.first().and_then(dec_of) else { return Ok(vec![]) };
            f(d.to_f64().ln() / b.to_f64().ln())
        }
        _ => {
            let Some(e) = arg(0)?.first().map(prim) else { return Ok(vec![]) };
            match (&x, &e) {
                (Item::Int(b), Item::Int(p)) if *p >= 0 => u32::try_from(*p).ok().and_then(|p| b.checked_pow(p)).map(Item::Int),
                _ => {
                    let v = d.to_f64().powf(dec_of(&e).map(|e| e.to_f64()).unwrap_or(f64::NAN));
                    f(v)
                }
            }
        }
    };
    Ok(r.into_iter().collect())
}

/// Date/time plus a calendar duration (or a UCUM time unit below a month).
pub fn date_add<'a>(it: &Item<'a>, v: Dec, unit: &str) -> Result<Item<'a>, String> {
    use chrono::{Duration, Months, NaiveDate, NaiveTime};
    let unit = match unit {
        "a" | "mo" => return Err("calendar arithmetic needs a calendar duration (year, month)".into()),
        u => calendar_unit(u).unwrap_or(u),
    };
    let n = i64::try_from(v.trunc()).map_err(|_| "quantity too large")?;
    let (text, is_time) = match it {
        Item::Date(s) | Item::DateTime(s) => (s.as_str(), false),
        Item::Time(s) => (s.as_str(), true),
        _ => return Err("date arithmetic on a non-date".into()),
    };
    let dur = match unit {
        "wk" => Duration::weeks(n),
        "d" => Duration::days(n),
        "h" => Duration::hours(n),
        "min" => Duration::minutes(n),
        "s" => Duration::seconds(n),
        "ms" => Duration::milliseconds(n),
        "year" | "month" => Duration::zero(),
        _ => return Err(format!("cannot add '{unit}' to a date/time")),
    };
    // split "date" "T" "time" "tz"
    let (date_part, rest) = if is_time { ("", text) } else { text.split_at(text.find('T').unwrap_or(text.len())) };
    let rest = rest.trim_start_matches('T');
    let tz_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time_part, tz) = rest.split_at(tz_at);
    let time = if time_part.is_empty() {
        None
    } else {
        let full = match time_part.len() { 2 => format!("{time_part}:00:00"), 5 => format!("{time_part}:00"), _ => time_part.to_string() };
        Some(NaiveTime::parse_from_str(&full, "%H:%M:%S%.f").map_err(|e| e.to_string())?)
    };
    let fmt_time = |t: NaiveTime| -> String {
        let f = match time_part.len() { 2 => "%H", 5 => "%H:%M", 8 => "%H:%M:%S", _ => "%H:%M:%S%.3f" };
        t.format(f).to_string()
    };
    if is_time {
        let t = time.ok_or("empty time")?;
        return Ok(Item::Time(fmt_time(t.overflowing_add_signed(dur).0)));
    }
    let prec = date_part.split('-').count();
    if time.is_none() && !matches!(unit, "year" | "month" | "wk" | "d") {
        return Err("cannot add a time quantity to a date".into());
    }
    let full = match prec { 1 => format!("{date_part}-01-01"), 2 => format!("{date_part}-01"), _ => date_part.to_string() };
    let d = NaiveDate::parse_from_str(&full, "%Y-%m-%d").map_err(|e| e.to_string())?;
    let months = match unit { "year" => n * 12, "month" => n, _ => 0 };
    let d = if months >= 0 { d.checked_add_months(Months::new(months as u32)) } else { d.checked_sub_months(Months::new((-months) as u32)) }
        .ok_or("date out of range")?;
    let dt = d.and_time(time.unwrap_or_default()).checked_add_signed(dur).ok_or("date out of range")?;
    let ds = match prec { 1 => dt.format("%Y").to_string(), 2 => dt.format("%Y-%m").to_string(), _ => dt.format("%Y-%m-%d").to_string() };
    Ok(match (it, time) {
        (Item::Date(_), _) | (_, None) => if matches!(it, Item::Date(_)) { Item::Date(ds) } else { Item::DateTime(ds) },
        (_, Some(_)) => Item::DateTime(format!("{ds}T{}{tz}", fmt_time(dt.time()))),
    })
}
