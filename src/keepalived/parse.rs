//! Stage 2, parsing: a statement is a keyword plus the words that follow it
//! on the same line, optionally followed by a `{ ... }` block (on the same
//! or the next line). Unbalanced braces are errors.

use super::ImportError;
use super::lex::{Kind, Loc, Token, error};

/// Deepest `{ }` nesting accepted (keepalived itself never goes past 4).
const MAX_BLOCK_DEPTH: usize = 64;

/// `keyword args... [{ block }]`
#[derive(Debug)]
pub(super) struct Stmt {
    pub key: Token,
    pub args: Vec<Token>,
    pub block: Option<Block>,
}

#[derive(Debug)]
pub(super) struct Block {
    pub open: Loc,
    pub stmts: Vec<Stmt>,
}

impl Stmt {
    pub fn kw(&self) -> &str {
        &self.key.text
    }

    pub fn loc(&self) -> &Loc {
        &self.key.loc
    }

    /// The statement as written, shortened, for warnings.
    pub fn shown(&self) -> String {
        let mut s = self.key.shown();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.shown());
        }
        if s.chars().count() > 60 {
            s = s.chars().take(57).collect::<String>() + "...";
        }
        if self.block.is_some() {
            s.push_str(" { ... }");
        }
        s
    }

    /// The first word after the keyword.
    pub fn one_arg(&self) -> Result<&Token, ImportError> {
        self.args
            .first()
            .ok_or_else(|| error(self.loc(), format!("{} needs a value", self.kw())))
    }

    pub fn need_block(&self) -> Result<&Block, ImportError> {
        self.block
            .as_ref()
            .ok_or_else(|| error(self.loc(), format!("{} needs a {{ }} block", self.kw())))
    }

    /// A block after a keyword that takes none is most likely a misplaced
    /// brace: an error at the brace, rather than a block silently ignored.
    pub fn no_block(&self) -> Result<(), ImportError> {
        match &self.block {
            Some(b) => Err(error(
                &b.open,
                format!(
                    "{} takes no {{ }} block (unbalanced or misplaced braces?)",
                    self.kw()
                ),
            )),
            None => Ok(()),
        }
    }
}

/// The statements of a whole file (includes already expanded).
pub(super) fn parse(tokens: Vec<Token>) -> Result<Vec<Stmt>, ImportError> {
    Parser { tokens, pos: 0 }.parse_seq(None, 0)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    /// Statements up to the `}` that closes `opener`, or to the end of the
    /// tokens at the top level.
    fn parse_seq(
        &mut self,
        opener: Option<&Token>,
        depth: usize,
    ) -> Result<Vec<Stmt>, ImportError> {
        if depth > MAX_BLOCK_DEPTH {
            let o = opener.expect("depth > 0 has an opener");
            return Err(error(
                &o.loc,
                format!("blocks nest deeper than {MAX_BLOCK_DEPTH} levels"),
            ));
        }
        let mut stmts = Vec::new();
        loop {
            let Some(tok) = self.tokens.get(self.pos).cloned() else {
                return match opener {
                    Some(o) => Err(error(
                        &o.loc,
                        "unbalanced braces: this { is never closed (missing })",
                    )),
                    None => Ok(stmts),
                };
            };
            self.pos += 1;
            match tok.kind {
                Kind::Close => {
                    return match opener {
                        Some(_) => Ok(stmts),
                        None => Err(error(&tok.loc, "unbalanced braces: } without a matching {")),
                    };
                }
                Kind::Open => {
                    return Err(error(
                        &tok.loc,
                        "unexpected {: a block must follow a keyword (e.g. virtual_ipaddress {)",
                    ));
                }
                Kind::Word | Kind::Quoted => stmts.push(self.statement(tok, depth)?),
            }
        }
    }

    /// The rest of the statement that `key` starts: its words on the same
    /// line, then a block if a `{` follows.
    fn statement(&mut self, key: Token, depth: usize) -> Result<Stmt, ImportError> {
        let mut args = Vec::new();
        while let Some(t) = self.tokens.get(self.pos) {
            if t.is_word() && t.same_line(&key) {
                args.push(t.clone());
                self.pos += 1;
            } else {
                break;
            }
        }
        let block = match self.tokens.get(self.pos) {
            Some(t) if t.kind == Kind::Open => {
                let open = t.clone();
                self.pos += 1;
                let inner = self.parse_seq(Some(&open), depth + 1)?;
                Some(Block {
                    open: open.loc,
                    stmts: inner,
                })
            }
            _ => None,
        };
        Ok(Stmt { key, args, block })
    }
}
