//! `LIKE` patterns with WQL semantics, used for both languages: `%` matches
//! any run of characters, `_` exactly one, `[abc]` / `[a-z]` one character
//! of a set and `[^…]` one character outside it; everything else matches
//! itself, case-sensitively. A literal `%`, `_` or `[` is written `[%]`,
//! `[_]`, `[[]`. (DSP0202's regular-expression flavour is not offered:
//! clients send WQL-style patterns to CQL servers too.)

use std::fmt;

/// One step of a compiled pattern.
#[derive(Clone, Debug)]
enum Elem {
    /// `%`
    AnyRun,
    /// `_`
    AnyOne,
    Char(char),
    /// `[…]` as inclusive ranges (`a` is `a-a`).
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Elem {
    /// True when this single-character element accepts `c`.
    fn accepts(&self, c: char) -> bool {
        match self {
            Elem::AnyRun => false,
            Elem::AnyOne => true,
            Elem::Char(p) => *p == c,
            Elem::Set { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// A pattern that failed to compile; `offset` is the 0-based character
/// position inside the pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PatternError {
    pub offset: usize,
    pub reason: &'static str,
}

/// A compiled `LIKE` pattern; compares and prints as its source text.
#[derive(Clone)]
pub struct LikePattern {
    source: String,
    elems: Vec<Elem>,
}

impl LikePattern {
    /// Compiles `source`.
    pub(crate) fn new(source: &str) -> Result<Self, PatternError> {
        let chars: Vec<char> = source.chars().collect();
        let mut elems = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '%' => {
                    // Adjacent `%` mean the same as one; keeping one keeps
                    // the matcher's backtracking short.
                    if !matches!(elems.last(), Some(Elem::AnyRun)) {
                        elems.push(Elem::AnyRun);
                    }
                    i += 1;
                }
                '_' => {
                    elems.push(Elem::AnyOne);
                    i += 1;
                }
                '[' => {
                    let (set, next) = set(&chars, i)?;
                    elems.push(set);
                    i = next;
                }
                c => {
                    elems.push(Elem::Char(c));
                    i += 1;
                }
            }
        }
        Ok(LikePattern {
            source: source.to_string(),
            elems,
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pat = &self.elems;
        let (mut p, mut s) = (0, 0);
        // Where the last `%` was and how much text it has swallowed so far:
        // on a mismatch it swallows one more character and matching resumes
        // after it. One `%` at a time suffices, so this is O(text * pattern).
        let mut backtrack: Option<(usize, usize)> = None;
        while s < text.len() {
            match pat.get(p) {
                Some(Elem::AnyRun) => {
                    backtrack = Some((p, s));
                    p += 1;
                }
                Some(e) if e.accepts(text[s]) => {
                    p += 1;
                    s += 1;
                }
                _ => match backtrack {
                    Some((star, swallowed)) => {
                        backtrack = Some((star, swallowed + 1));
                        p = star + 1;
                        s = swallowed + 1;
                    }
                    None => return false,
                },
            }
        }
        pat[p..].iter().all(|e| matches!(e, Elem::AnyRun))
    }
}

/// Reads the set that opens at `chars[open]` (`[`); returns it and the
/// index after its `]`. A `]` right after `[` or `[^` is a member.
fn set(chars: &[char], open: usize) -> Result<(Elem, usize), PatternError> {
    let mut i = open + 1;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let first = i;
    let mut ranges = Vec::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(PatternError {
                offset: open,
                reason: "unclosed `[`",
            });
        };
        if c == ']' && i > first {
            return Ok((Elem::Set { negated, ranges }, i + 1));
        }
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                if hi < c {
                    return Err(PatternError {
                        offset: i,
                        reason: "range runs backwards",
                    });
                }
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
}

impl PartialEq for LikePattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for LikePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LikePattern({:?})", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(p: &str, s: &str) -> bool {
        LikePattern::new(p).expect("compiles").matches(s)
    }

    #[test]
    fn wildcards() {
        assert!(like("vm%", "vm-01"));
        assert!(like("vm%", "vm"));
        assert!(!like("vm%", "VM-01"), "case-sensitive");
        assert!(like("%-01", "vm-01"));
        assert!(like("%m%0%", "vm-01"));
        assert!(like("v_-01", "vm-01"));
        assert!(!like("v_-01", "v-01"));
        assert!(like("%", ""));
        assert!(!like("_", ""));
        assert!(like("", ""));
        assert!(!like("", "a"));
        assert!(like("a%b%c", "aXbYbZc"));
        assert!(!like("a%b%c", "aXbYbZ"));
        assert!(like("é_", "éß"));
    }

    #[test]
    fn sets_and_escaping() {
        assert!(like("vm[0-9]", "vm7"));
        assert!(!like("vm[0-9]", "vmx"));
        assert!(like("vm[^0-9]", "vmx"));
        assert!(like("[abc]%", "beta"));
        assert!(like("100[%]", "100%"));
        assert!(!like("100[%]", "1000"));
        assert!(like("[]]", "]"));
        assert!(like("[a-]", "-"));
        assert!(like("[[]x", "[x"));
    }

    #[test]
    fn bad_patterns_say_where() {
        assert_eq!(LikePattern::new("ab[cd").err().map(|e| e.offset), Some(2));
        assert!(LikePattern::new("[z-a]").is_err());
        assert!(LikePattern::new("[^").is_err());
    }

    #[test]
    fn many_percents_stay_fast() {
        let p = "%a".repeat(200) + "%b";
        assert!(!like(&p, &"a".repeat(5000)));
    }
}
