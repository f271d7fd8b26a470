//! `lowBoundary`, `highBoundary`, `precision` and `comparable`.
use super::eval::{one_int, Env};
use super::nav::prim;
use super::ops::R;
use super::parser::Ast;
use super::value::{normalize, parse_time_parts, Temporal};
use super::{Dec, Item};

pub fn call<'a>(name: &str, input: Vec<Item<'a>>, args: &[Ast], _env: &Env<'a>, arg: &dyn Fn(usize) -> R<'a>) -> R<'a> {
    let x = match input.as_slice() {
        [] => return Ok(vec![]),
        [x] => prim(x),
        _ => return Err(format!("{name}(): more than one input item")),
    };
    match name {
        "precision" => Ok(precision(&x).map(Item::Int).into_iter().collect()),
        "comparable" => {
            let other = arg(0)?;
            let (Item::Quantity { value: v1, unit: u1 }, Some(Item::Quantity { value: v2, unit: u2 })) = (&x, other.first().map(prim)) else {
                return Err("comparable(): quantities expected".into());
            };
            let same = u1 == &u2
                || matches!((normalize(*v1, u1), normalize(v2, &u2)), (Some((_, a)), Some((_, b))) if a == b);
            Ok(vec![Item::Bool(same)])
        }
        _ => {
            let high = name == "highBoundary";
            let p = if args.is_empty() { None } else { one_int(&arg(0)?)? };
            Ok(boundary(&x, p, high).into_iter().collect())
        }
    }
}

fn precision(x: &Item<'_>) -> Option<i64> {
    match x {
        Item::Decimal(d) => Some(d.s as i64),
        Item::Int(_) => Some(0),
        Item::Date(s) | Item::DateTime(s) | Item::Time(s) => {
            let body = s.split(['Z', '+']).next().unwrap_or(s);
            let body = match body.find('T') {
                Some(t) => {
                    let (d, rest) = body.split_at(t);
                    format!("{d}{}", rest.split('-').next().unwrap_or(rest))
                }
                None if matches!(x, Item::Time(_)) => body.split('-').next().unwrap_or(body).to_string(),
                None => body.to_string(),
            };
            Some(body.chars().filter(|c| c.is_ascii_digit()).count() as i64)
        }
        _ => None,
    }
}

fn dec_boundary(v: Dec, p: Option<i64>, high: bool) -> Option<Dec> {
    let p = p.unwrap_or(8);
    if !(0..=28).contains(&p) {
        return None;
    }
    let p = p as u32;
    let half = Dec { m: 5, s: v.s + 1 };
    let b = if high { v.plus(half)? } else { v.minus(half)? };
    if p >= b.s {
        let m = b.m.checked_mul(10i128.checked_pow(p - b.s)?)?;
        return Some(Dec { m, s: p });
    }
    // a value with no digit at the requested precision has a zero boundary there
    let tiny = (Dec { m: v.m.abs(), s: v.s }).cmp_num(&Dec { m: 1, s: p }).is_lt();
    if tiny && p < v.s {
        return Some(Dec { m: 0, s: p });
    }
    let f = 10i128.checked_pow(b.s - p)?;
    let m = if high { -(-b.m).div_euclid(f) } else { b.m.div_euclid(f) };
    Some(Dec { m, s: p })
}

fn boundary<'a>(x: &Item<'a>, p: Option<i64>, high: bool) -> Option<Item<'a>> {
    match x {
        Item::Int(i) => dec_boundary(Dec::from_int(*i), p, high).map(Item::Decimal),
        Item::Decimal(d) => dec_boundary(*d, p, high).map(Item::Decimal),
        Item::Quantity { value, unit } => dec_boundary(*value, p, high).map(|value| Item::Quantity { value, unit: unit.clone() }),
        Item::Time(s) => {
            let (mut parts, _) = parse_time_parts(s)?;
            fill(&mut parts, &[0, 0, 0], &[23, 59, 59_999], high);
            let text = fmt_parts(&[], &parts, p.unwrap_or(9))?;
            Some(Item::Time(text))
        }
        Item::Date(s) | Item::DateTime(s) => {
            let t = Temporal::parse_date_time(s)?;
            let mut date: Vec<i64> = t.parts.iter().take(3).copied().collect();
            let mut time: Vec<i64> = t.parts.iter().skip(3).copied().collect();
            let given = date.len();
            if given < 2 {
                date.push(if high { 12 } else { 1 });
            }
            if given < 3 {
                date.push(if high { days_in_month(date[0], date[1]) } else { 1 });
            }
            if time.len() == 1 {
                time.push(0); // an hour alone is read as HH:00
            }
            fill(&mut time, &[0, 0, 0], &[23, 59, 59_999], high);
            let p = p.unwrap_or(17);
            let d = format!("{:04}-{:02}-{:02}", date[0], date[1], date[2]);
            let d = match p {
                4 => d[..4].to_string(),
                6 => d[..7].to_string(),
                8 => return Some(Item::Date(d)),
                _ if p < 8 => return None,
                _ => d,
            };
            if p <= 6 {
                return Some(Item::Date(d));
            }
            let tz = match t.tz {
                Some(0) => "Z".to_string(),
                Some(m) => format!("{}{:02}:{:02}", if m < 0 { '-' } else { '+' }, m.abs() / 60, m.abs() % 60),
                None if high => "-12:00".into(),
                None => "+14:00".into(),
            };
            let time_text = fmt_parts(&[], &time, p - 8)?;
            Some(Item::DateTime(format!("{d}T{time_text}{tz}")))
        }
        _ => None,
    }
}

fn fill(parts: &mut Vec<i64>, low: &[i64], high: &[i64], is_high: bool) {
    let src = if is_high { high } else { low };
    while parts.len() < 3 {
        parts.push(src[parts.len()]);
    }
}

fn fmt_parts(_prefix: &[i64], t: &[i64], p: i64) -> Option<String> {
    let (h, m, ms) = (t[0], t[1], t[2]);
    Some(match p {
        2 => format!("{h:02}"),
        4 => format!("{h:02}:{m:02}"),
        6 => format!("{h:02}:{m:02}:{:02}", ms / 1000),
        9 => format!("{h:02}:{m:02}:{:02}.{:03}", ms / 1000, ms % 1000),
        _ => return None,
    })
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}
