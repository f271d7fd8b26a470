//! FHIRPath lexer and precedence-climbing parser producing an [`Ast`].
use super::value::Dec;

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Empty,
    Bool(bool),
    Int(i64),
    Decimal(Dec),
    Str(String),
    Date(String),
    DateTime(String),
    Time(String),
    Quantity(Dec, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Mul, Div, IntDiv, Mod, Add, Sub, Concat, Union, Lt, Gt, Le, Ge, Eq, Ne, Equiv, NotEquiv,
    In, Contains, And, Or, Xor, Implies,
}

/// A qualified type name such as `Patient`, `FHIR.string` or `System.Boolean`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeSpec {
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Lit(Lit),
    /// A member (or type name) invoked on the current focus.
    Ident(String),
    Var(String),
    This,
    Index,
    Total,
    Member(Box<Ast>, String),
    /// A function call; receiver `None` means it is invoked on `$this`.
    Call(Option<Box<Ast>>, String, Vec<Ast>),
    Indexer(Box<Ast>, Box<Ast>),
    Neg(Box<Ast>),
    Bin(Op, Box<Ast>, Box<Ast>),
    Is(Box<Ast>, TypeSpec),
    As(Box<Ast>, TypeSpec),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Id(String),
    /// Backtick-delimited identifier: never a keyword.
    QId(String),
    Str(String),
    Num(String),
    Date(String),
    Ext(String), // %name
    Sym(&'static str),
}

const SYMS: [&str; 20] = [
    "<=", ">=", "!=", "!~", "(", ")", "[", "]", "{", "}", ".", ",", "+", "-", "*", "/", "|", "&",
    "<", ">",
];

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            loop {
                if i + 1 >= c.len() {
                    return Err("unterminated comment".into());
                }
                if c[i] == '*' && c[i + 1] == '/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
        } else if ch == '\'' || ch == '`' {
            let (text, ni) = quoted(&c, i, ch)?;
            i = ni;
            out.push(if ch == '\'' { Tok::Str(text) } else { Tok::QId(text) });
        } else if ch == '@' {
            let st = i + 1;
            i += 1;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || "-:.+TZ".contains(c[i])) {
                // a trailing '.' followed by a non-digit is a member access
                if c[i] == '.' && !c.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    break;
                }
                i += 1;
            }
            out.push(Tok::Date(c[st..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            let st = i;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < c.len() && c[i] == '.' && c[i + 1].is_ascii_digit() {
                i += 1;
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Tok::Num(c[st..i].iter().collect()));
        } else if ch.is_alphabetic() || ch == '_' || ch == '$' {
            let st = i;
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Id(c[st..i].iter().collect()));
        } else if ch == '%' {
            i += 1;
            if c.get(i) == Some(&'`') || c.get(i) == Some(&'\'') {
                let (text, ni) = quoted(&c, i, c[i])?;
                i = ni;
                out.push(Tok::Ext(text));
            } else {
                let st = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ext(c[st..i].iter().collect()));
            }
        } else if ch == '=' || ch == '~' {
            out.push(Tok::Sym(if ch == '=' { "=" } else { "~" }));
            i += 1;
        } else {
            let rest: String = c[i..(i + 2).min(c.len())].iter().collect();
            let sym = SYMS.iter().find(|s| rest.starts_with(**s)).ok_or(format!("unexpected character '{ch}'"))?;
            i += sym.len();
            out.push(Tok::Sym(sym));
        }
    }
    Ok(out)
}

fn quoted(c: &[char], start: usize, q: char) -> Result<(String, usize), String> {
    let mut i = start + 1;
    let mut s = String::new();
    while i < c.len() {
        let ch = c[i];
        if ch == q {
            return Ok((s, i + 1));
        }
        if ch == '\\' {
            i += 1;
            let e = *c.get(i).ok_or("unterminated escape")?;
            match e {
                'n' => s.push('\n'),
                'r' => s.push('\r'),
                't' => s.push('\t'),
                'f' => s.push('\u{c}'),
                'u' => {
                    let hex: String = c.get(i + 1..i + 5).ok_or("bad \\u escape")?.iter().collect();
                    let v = u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u escape")?;
                    s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    i += 4;
                }
                other => s.push(other),
            }
        } else {
            s.push(ch);
        }
        i += 1;
    }
    Err("unterminated string".into())
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

fn op_of(t: &Tok) -> Option<(Op, u8)> {
    let op = match t {
        Tok::Sym(s) => match *s {
            "*" => Op::Mul, "/" => Op::Div, "+" => Op::Add, "-" => Op::Sub, "&" => Op::Concat,
            "|" => Op::Union, "<" => Op::Lt, ">" => Op::Gt, "<=" => Op::Le, ">=" => Op::Ge,
            "=" => Op::Eq, "!=" => Op::Ne, "~" => Op::Equiv, "!~" => Op::NotEquiv,
            _ => return None,
        },
        Tok::Id(s) => match s.as_str() {
            "div" => Op::IntDiv, "mod" => Op::Mod, "in" => Op::In, "contains" => Op::Contains,
            "and" => Op::And, "or" => Op::Or, "xor" => Op::Xor, "implies" => Op::Implies,
            _ => return None,
        },
        _ => return None,
    };
    let prec = match op {
        Op::Mul | Op::Div | Op::IntDiv | Op::Mod => 9,
        Op::Add | Op::Sub | Op::Concat => 8,
        Op::Union => 6,
        Op::Lt | Op::Gt | Op::Le | Op::Ge => 5,
        Op::Eq | Op::Ne | Op::Equiv | Op::NotEquiv => 4,
        Op::In | Op::Contains => 3,
        Op::And => 2,
        Op::Or | Op::Xor => 1,
        Op::Implies => 0,
    };
    Some((op, prec))
}
const TYPE_PREC: u8 = 7;

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }
    fn expect(&mut self, s: &str) -> Result<(), String> {
        if self.is_sym(s) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{s}' at token {}", self.i))
        }
    }

    fn expr(&mut self, min: u8) -> Result<Ast, String> {
        let mut lhs = self.unary()?;
        while let Some(tok) = self.peek().cloned() {
            if let Tok::Id(k) = &tok {
                if (k == "is" || k == "as") && TYPE_PREC >= min {
                    self.i += 1;
                    let ts = self.type_spec()?;
                    lhs = if k == "is" { Ast::Is(Box::new(lhs), ts) } else { Ast::As(Box::new(lhs), ts) };
                    continue;
                }
            }
            let Some((op, prec)) = op_of(&tok) else { break };
            if prec < min {
                break;
            }
            self.i += 1;
            let rhs = self.expr(prec + 1)?;
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn type_spec(&mut self) -> Result<TypeSpec, String> {
        let first = self.ident()?;
        if self.is_sym(".") {
            self.i += 1;
            let name = self.ident()?;
            return Ok(TypeSpec { namespace: Some(first), name });
        }
        Ok(TypeSpec { namespace: None, name: first })
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Tok::Id(s)) | Some(Tok::QId(s)) => {
                self.i += 1;
                Ok(s)
            }
            t => Err(format!("expected identifier, found {t:?}")),
        }
    }

    fn unary(&mut self) -> Result<Ast, String> {
        if self.is_sym("-") || self.is_sym("+") {
            let neg = self.is_sym("-");
            self.i += 1;
            let e = self.unary()?;
            return Ok(match (neg, e) {
                (true, Ast::Lit(Lit::Int(n))) if n != i64::MIN => Ast::Lit(Lit::Int(-n)),
                (true, Ast::Lit(Lit::Decimal(d))) => Ast::Lit(Lit::Decimal(d.negate())),
                (true, Ast::Lit(Lit::Quantity(d, u))) => Ast::Lit(Lit::Quantity(d.negate(), u)),
                (true, e) => Ast::Neg(Box::new(e)),
                (false, e) => e,
            });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Ast, String> {
        let mut e = self.term()?;
        loop {
            if self.is_sym(".") {
                self.i += 1;
                let name = self.ident()?;
                if self.is_sym("(") {
                    let args = self.args()?;
                    e = Ast::Call(Some(Box::new(e)), name, args);
                } else {
                    e = Ast::Member(Box::new(e), name);
                }
            } else if self.is_sym("[") {
                self.i += 1;
                let idx = self.expr(0)?;
                self.expect("]")?;
                e = Ast::Indexer(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Ast>, String> {
        self.expect("(")?;
        let mut args = Vec::new();
        if self.is_sym(")") {
            self.i += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            if self.is_sym(",") {
                self.i += 1;
            } else {
                self.expect(")")?;
                return Ok(args);
            }
        }
    }

    fn term(&mut self) -> Result<Ast, String> {
        let tok = self.peek().cloned().ok_or("unexpected end of expression")?;
        self.i += 1;
        Ok(match tok {
            Tok::Sym("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                e
            }
            Tok::Sym("{") => {
                self.expect("}")?;
                Ast::Lit(Lit::Empty)
            }
            Tok::Str(s) => Ast::Lit(Lit::Str(s)),
            Tok::Date(d) => date_lit(&d)?,
            Tok::Ext(n) => Ast::Var(n),
            Tok::Num(n) => {
                let unit = match self.peek().cloned() {
                    Some(Tok::Str(u)) => Some(u),
                    Some(Tok::Id(u)) if super::value::calendar_unit(&u).is_some() => Some(u),
                    _ => None,
                };
                if let Some(u) = unit {
                    self.i += 1;
                    Ast::Lit(Lit::Quantity(Dec::parse(&n).ok_or("bad number")?, u))
                } else if n.contains('.') {
                    Ast::Lit(Lit::Decimal(Dec::parse(&n).ok_or("bad number")?))
                } else {
                    match n.parse::<i64>() {
                        Ok(v) => Ast::Lit(Lit::Int(v)),
                        Err(_) => Ast::Lit(Lit::Decimal(Dec::parse(&n).ok_or("bad number")?)),
                    }
                }
            }
            Tok::Id(s) | Tok::QId(s) => {
                let quoted = matches!(self.t[self.i - 1], Tok::QId(_));
                match s.as_str() {
                    "true" if !quoted => Ast::Lit(Lit::Bool(true)),
                    "false" if !quoted => Ast::Lit(Lit::Bool(false)),
                    "$this" => Ast::This,
                    "$index" => Ast::Index,
                    "$total" => Ast::Total,
                    _ if self.is_sym("(") => {
                        let args = self.args()?;
                        Ast::Call(None, s, args)
                    }
                    _ => Ast::Ident(s),
                }
            }
            t => return Err(format!("unexpected token {t:?}")),
        })
    }
}

fn date_lit(d: &str) -> Result<Ast, String> {
    if let Some(t) = d.strip_prefix('T') {
        if t.contains(['Z', '+', '-']) {
            return Err("a time literal cannot have a timezone".into());
        }
        return Ok(Ast::Lit(Lit::Time(t.to_string())));
    }
    if d.contains('T') {
        let d = d.strip_suffix('T').unwrap_or(d);
        if d.contains('T') {
            return Ok(Ast::Lit(Lit::DateTime(d.to_string())));
        }
        return Ok(Ast::Lit(Lit::DateTime(d.to_string())));
    }
    if d.is_empty() {
        return Err("empty date literal".into());
    }
    Ok(Ast::Lit(Lit::Date(d.to_string())))
}

pub fn parse_ast(text: &str) -> Result<Ast, String> {
    let t = lex(text)?;
    if t.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = P { t, i: 0 };
    let e = p.expr(0)?;
    if p.i != p.t.len() {
        return Err(format!("unexpected trailing token {:?}", p.t[p.i]));
    }
    Ok(e)
}
