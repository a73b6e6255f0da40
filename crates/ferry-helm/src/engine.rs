//! The template engine: gotmpl's parser and executor with Helm's semantics.
//!
//! gotmpl is a faithful port of Go's `text/template`; what differs in Helm is
//! the data model. Parsed trees are rewritten before execution so that:
//! - printed values use Go's `%v` (`1e+06`, `map[a:1]`) — `__ferry_print`;
//! - field access on a nil value fails like Go (`nil pointer evaluating
//!   interface {}.y`) and reads mutated maps — `__ferry_field`;
//! - `.Files.Get "x"` and `.Capabilities.APIVersions.Has "x"` call methods —
//!   `__ferry_invoke`;
//! - `range`/`if`/`with` see maps changed by `set` — `__ferry_current`;
//! - every action records its position first — `__ferry_at` — so an
//!   execution error names file, line, column and action as Helm does.

use gotmpl::parse::{
    ActionNode, BranchNode, CommandNode, Expr, ListNode, Node, Parser, PipeNode, Pos, SmolStr,
};
use gotmpl::{FuncMap, Template, TemplateError, Value, ValueFunc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::funcs::{self, err, s};
use crate::gofmt;
use crate::state::{Special, State};

/// Helm caps `include` recursion per template name at 1000.
const MAX_INCLUDE_DEPTH: usize = 1000;
/// Below this much free stack, `include`/`tpl` continue on a new segment.
const STACK_RED_ZONE: usize = 1024 * 1024;
/// Size of each new stack segment (one gotmpl execution nests at most 200
/// levels, well within it).
const STACK_SEGMENT: usize = 16 * 1024 * 1024;

/// Where an action sits in its source, for error messages.
#[derive(Debug, Clone)]
struct ActionSite {
    /// The file the action is in.
    template: String,
    /// The template being executed (the file, or a `define` name).
    executing: String,
    line: usize,
    /// 0-based, as Go reports it.
    col: usize,
    text: String,
}

/// A parse failure, already formatted as Go's `text/template` does.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// A parsed source file: its main tree and its `define`s, rewritten.
#[derive(Clone)]
pub struct ParsedFile {
    pub name: String,
    tree: ListNode,
    defines: Vec<(String, ListNode)>,
}

/// Action sites of every parsed source, shared by all renders of a set.
#[derive(Default)]
struct SiteTable {
    sites: Mutex<Vec<ActionSite>>,
}

impl SiteTable {
    fn add(&self, site: ActionSite) -> usize {
        let mut sites = self
            .sites
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sites.push(site);
        sites.len() - 1
    }

    fn get(&self, index: usize) -> Option<ActionSite> {
        let sites = self
            .sites
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sites.get(index).cloned()
    }
}

/// Parse and rewrite one template source.
fn helm_parse_error(name: &str, error: &TemplateError) -> ParseError {
    match error {
        TemplateError::Parse { line, message, .. } | TemplateError::Lex { line, message, .. } => {
            ParseError(format!("parse error at ({name}:{line}): {message}"))
        }
        other => ParseError(format!("parse error in ({name}): {other}")),
    }
}

/// Names every template may call: gotmpl's builtins plus ours.
fn known_functions() -> &'static std::collections::BTreeSet<String> {
    static KNOWN: OnceLock<std::collections::BTreeSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let state = State::new_shared();
        let mut funcs = FuncMap::new();
        funcs::install(&mut funcs, &state);
        let mut names: std::collections::BTreeSet<String> = funcs.into_keys().collect();
        for builtin in [
            "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
            "urlquery", "call", "eq", "ne", "lt", "le", "gt", "ge", "include", "tpl",
        ] {
            names.insert(builtin.to_string());
        }
        names
    })
}

/// Parse and rewrite one template source.
fn parse_source(name: &str, source: &str, sites: &SiteTable) -> Result<ParsedFile, ParseError> {
    let parser = Parser::with_name(Some(name), source, "{{", "}}").map_err(|e| helm_parse_error(name, &e))?;
    let (tree, defines) = parser.parse().map_err(|e| helm_parse_error(name, &e))?;
    // Go rejects two non-empty definitions of one name in the same file.
    let mut seen = std::collections::BTreeSet::new();
    for define in &defines {
        if define.body.is_empty_tree() {
            continue;
        }
        if !seen.insert(define.name.to_string()) {
            return Err(ParseError(format!(
                "parse error at ({name}:{}): multiple definition of template {:?}",
                define.pos.line,
                define.name.as_str()
            )));
        }
    }
    let mut rewriter = Rewriter {
        name,
        executing: name.to_string(),
        source,
        sites,
        unknown_function: None,
    };
    let tree = rewriter.list(tree);
    let mut rewritten_defines = Vec::with_capacity(defines.len());
    for d in defines {
        rewriter.executing = d.name.to_string();
        rewritten_defines.push((d.name.to_string(), rewriter.list(d.body)));
    }
    if let Some((line, function)) = rewriter.unknown_function {
        return Err(ParseError(format!(
            "parse error at ({name}:{line}): function {function:?} not defined"
        )));
    }
    Ok(ParsedFile {
        name: name.to_string(),
        tree,
        defines: rewritten_defines,
    })
}

struct Rewriter<'a> {
    name: &'a str,
    executing: String,
    source: &'a str,
    sites: &'a SiteTable,
    /// The first call of a function that does not exist (line, name).
    unknown_function: Option<(usize, String)>,
}

fn ident(pos: Pos, name: &str) -> Expr {
    Expr::Identifier(pos, SmolStr::new(name))
}

fn string_expr(pos: Pos, text: &str) -> Expr {
    Expr::String(pos, Arc::from(text))
}

fn pipe_expr(pos: Pos, args: Vec<Expr>) -> Expr {
    Expr::Pipe(
        pos,
        PipeNode {
            pos,
            decl: Vec::new(),
            commands: vec![CommandNode { pos, args }],
            is_assign: false,
        },
    )
}

impl Rewriter<'_> {
    fn site_for(&self, pipe: &PipeNode) -> ActionSite {
        let first = pipe.commands.first().and_then(|c| c.args.first());
        let pos = first.map(Expr::pos).unwrap_or(pipe.pos);
        let start = pos.offset.min(self.source.len());
        // Go places a field chain (`.a.b`) at its second field.
        let offset = match first {
            Some(Expr::Field(_, fields)) if fields.len() > 1 => {
                start + 1 + fields.first().map_or(0, |f| f.len())
            }
            Some(Expr::Variable(_, var, fields)) if !fields.is_empty() => start + var.len(),
            _ => start,
        }
        .min(self.source.len());
        let offset = if self.source.is_char_boundary(offset) {
            offset
        } else {
            start
        };
        let line_start = self.source[..offset].rfind('\n').map_or(0, |i| i + 1);
        let col = self.source[line_start..offset].len();
        ActionSite {
            template: self.name.to_string(),
            executing: self.executing.clone(),
            line: pos.line,
            col,
            text: command_text(&self.source[start..]),
        }
    }

    fn marker(&self, pipe: &PipeNode) -> Node {
        let site = self.sites.add(self.site_for(pipe));
        let pos = pipe.pos;
        Node::Action(ActionNode {
            pos,
            pipe: PipeNode {
                pos,
                decl: Vec::new(),
                commands: vec![CommandNode {
                    pos,
                    args: vec![
                        ident(pos, "__ferry_at"),
                        Expr::Number(pos, gotmpl::parse::Number::Int(site as i64)),
                    ],
                }],
                is_assign: false,
            },
        })
    }

    fn list(&mut self, list: ListNode) -> ListNode {
        let mut nodes = Vec::with_capacity(list.nodes.len() * 2);
        for node in list.nodes {
            match node {
                Node::Action(mut action) => {
                    nodes.push(self.marker(&action.pipe));
                    let printed = action.pipe.decl.is_empty();
                    action.pipe = self.pipe(action.pipe);
                    if printed {
                        let pos = action.pipe.pos;
                        action.pipe.commands.push(CommandNode {
                            pos,
                            args: vec![ident(pos, "__ferry_print")],
                        });
                    }
                    nodes.push(Node::Action(action));
                }
                Node::If(branch) => {
                    nodes.push(self.marker(&branch.pipe));
                    nodes.push(Node::If(self.branch(branch)));
                }
                Node::With(branch) => {
                    nodes.push(self.marker(&branch.pipe));
                    nodes.push(Node::With(self.branch(branch)));
                }
                Node::Range(branch) => {
                    nodes.push(self.marker(&branch.pipe));
                    nodes.push(Node::Range(self.branch(branch)));
                }
                Node::Template(mut t) => {
                    if let Some(pipe) = t.pipe.take() {
                        nodes.push(self.marker(&pipe));
                        t.pipe = Some(self.pipe(pipe));
                    }
                    nodes.push(Node::Template(t));
                }
                Node::List(inner) => nodes.push(Node::List(self.list(inner))),
                other => nodes.push(other),
            }
        }
        ListNode { pos: list.pos, nodes }
    }

    fn branch(&mut self, mut branch: BranchNode) -> BranchNode {
        branch.pipe = self.pipe(branch.pipe);
        let pos = branch.pipe.pos;
        branch.pipe.commands.push(CommandNode {
            pos,
            args: vec![ident(pos, "__ferry_current")],
        });
        branch.body = self.list(branch.body);
        branch.else_body = branch.else_body.map(|e| self.list(e));
        branch
    }

    fn pipe(&mut self, mut pipe: PipeNode) -> PipeNode {
        let commands = std::mem::take(&mut pipe.commands);
        pipe.commands = commands
            .into_iter()
            .enumerate()
            .map(|(i, c)| self.command(c, i > 0))
            .collect();
        pipe
    }

    fn command(&mut self, cmd: CommandNode, piped: bool) -> CommandNode {
        let mut args = cmd.args.into_iter();
        let Some(first) = args.next() else {
            return CommandNode {
                pos: cmd.pos,
                args: Vec::new(),
            };
        };
        if let Expr::Identifier(pos, function) = &first
            && self.unknown_function.is_none()
            && !function.starts_with("__ferry_")
            && !known_functions().contains(function.as_str())
        {
            self.unknown_function = Some((pos.line, function.to_string()));
        }
        let rest: Vec<Expr> = args.map(|a| self.expr(a)).collect();
        let is_call = piped || !rest.is_empty();
        if is_call && let Some((receiver, path)) = self.method_target(&first) {
            let pos = first.pos();
            let mut call_args = vec![
                ident(pos, "__ferry_invoke"),
                receiver,
                string_expr(pos, &path.join(".")),
            ];
            call_args.extend(rest);
            return CommandNode {
                pos: cmd.pos,
                args: call_args,
            };
        }
        let mut out = vec![self.expr(first)];
        out.extend(rest);
        CommandNode {
            pos: cmd.pos,
            args: out,
        }
    }

    /// `.a.b.Method`, `$x.Method`, `(expr).Method` in call position.
    fn method_target(&mut self, expr: &Expr) -> Option<(Expr, Vec<String>)> {
        match expr {
            Expr::Field(pos, fields) => {
                Some((Expr::Dot(*pos), fields.iter().map(ToString::to_string).collect()))
            }
            Expr::Variable(pos, name, fields) if !fields.is_empty() => Some((
                Expr::Variable(*pos, name.clone(), Vec::new()),
                fields.iter().map(ToString::to_string).collect(),
            )),
            Expr::Chain(_, inner, fields) => Some((
                self.expr((**inner).clone()),
                fields.iter().map(ToString::to_string).collect(),
            )),
            _ => None,
        }
    }

    /// `__ferry_field LINE COL NODE receiver name…`: the position and text
    /// of the field node let a failure be reported where Go reports it.
    fn field_access(&self, pos: Pos, receiver: Expr, fields: &[SmolStr], node: String) -> Expr {
        let start = pos.offset.min(self.source.len());
        // Go places a chain (`.a.b`, `$x.a`) at its second element.
        let offset = match (&receiver, fields.len()) {
            (Expr::Dot(_), n) if n > 1 => start + 1 + fields.first().map_or(0, |f| f.len()),
            (Expr::Variable(_, var, _), _) => start + var.len(),
            _ => start,
        }
        .min(self.source.len());
        let offset = if self.source.is_char_boundary(offset) {
            offset
        } else {
            start
        };
        let line_start = self.source[..offset].rfind('\n').map_or(0, |i| i + 1);
        let col = self.source[line_start..offset].len();
        let number = |n: usize| Expr::Number(pos, gotmpl::parse::Number::Int(n as i64));
        let mut args = vec![
            ident(pos, "__ferry_field"),
            number(pos.line),
            number(col),
            string_expr(pos, &node),
            receiver,
        ];
        args.extend(fields.iter().map(|f| string_expr(pos, f)));
        pipe_expr(pos, args)
    }

    fn expr(&mut self, expr: Expr) -> Expr {
        match expr {
            Expr::Field(pos, fields) => {
                let node: String = fields.iter().map(|f| format!(".{f}")).collect();
                self.field_access(pos, Expr::Dot(pos), &fields, node)
            }
            Expr::Variable(pos, name, fields) if !fields.is_empty() => {
                let node = format!(
                    "{name}{}",
                    fields.iter().map(|f| format!(".{f}")).collect::<String>()
                );
                self.field_access(pos, Expr::Variable(pos, name, Vec::new()), &fields, node)
            }
            Expr::Chain(pos, inner, fields) => {
                let inner = self.expr(*inner);
                let node: String = fields.iter().map(|f| format!(".{f}")).collect();
                self.field_access(pos, inner, &fields, node)
            }
            Expr::Pipe(pos, pipe) => Expr::Pipe(pos, self.pipe(pipe)),
            Expr::Identifier(pos, function) => {
                if self.unknown_function.is_none() && !known_functions().contains(function.as_str()) {
                    self.unknown_function = Some((pos.line, function.to_string()));
                }
                Expr::Identifier(pos, function)
            }
            other => other,
        }
    }
}

/// The first command of an action's source text (up to `|` or `}}`).
fn command_text(rest: &str) -> String {
    let mut depth = 0i32;
    let mut in_string: Option<char> = None;
    let mut end = rest.len();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(q) = in_string {
            if c == '\\' && q == '"' {
                chars.next();
            } else if c == q {
                in_string = None;
            }
            continue;
        }
        match c {
            '"' | '`' => in_string = Some(c),
            '(' => depth += 1,
            ')' => depth -= 1,
            '|' if depth == 0 => {
                end = i;
                break;
            }
            '}' if rest[i..].starts_with("}}") => {
                end = i;
                break;
            }
            '-' if depth == 0 && rest[i..].starts_with("-}}") => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    rest[..end].trim().to_string()
}

/// A set of parsed templates (one chart tree), reusable across renders.
pub struct TemplateSet {
    files: Vec<ParsedFile>,
    sites: Arc<SiteTable>,
}

/// An execution failure, formatted as Helm reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

impl TemplateSet {
    /// Parse sources given in Helm's parse order; a later `define` of the same
    /// name replaces an earlier one.
    pub fn parse(sources: &[(String, String)]) -> Result<TemplateSet, ParseError> {
        let sites = Arc::new(SiteTable::default());
        let mut files = Vec::with_capacity(sources.len());
        for (name, source) in sources {
            files.push(parse_source(name, source, &sites)?);
        }
        Ok(TemplateSet { files, sites })
    }

    /// Start a render: a fresh function map and state over this set.
    pub fn renderer(&self) -> Renderer {
        let state = State::new_shared();
        let position = Arc::new(AtomicUsize::new(usize::MAX));
        let include_depth = Arc::new(AtomicUsize::new(0));
        let holder: Arc<OnceLock<Template>> = Arc::new(OnceLock::new());
        let mut funcs = FuncMap::new();
        funcs::install(&mut funcs, &state);
        install_engine_funcs(
            &mut funcs,
            &state,
            &position,
            &include_depth,
            Arc::downgrade(&holder),
            &self.sites,
        );
        let mut template = Template::new("").funcs(funcs.clone());
        for file in &self.files {
            template = template.add_parse_tree(&file.name, file.tree.clone());
            for (define_name, body) in &file.defines {
                template = template.add_parse_tree(define_name, body.clone());
            }
        }
        let _ = holder.set(template);
        Renderer {
            holder,
            state,
            position,
            sites: Arc::clone(&self.sites),
        }
    }
}

/// One render over a [`TemplateSet`]; shares mutable state across templates
/// like Helm's single template namespace.
pub struct Renderer {
    holder: Arc<OnceLock<Template>>,
    pub(crate) state: Arc<State>,
    position: Arc<AtomicUsize>,
    sites: Arc<SiteTable>,
}

impl Renderer {
    /// Execute one named template (a file) with `data` as dot.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, ExecError> {
        let Some(template) = self.holder.get() else {
            return Err(ExecError("template set is not initialised".to_string()));
        };
        self.position.store(usize::MAX, Ordering::SeqCst);
        match template.execute_template_to_string(name, data) {
            Ok(out) => Ok(out.replace("<no value>", "")),
            Err(e) => Err(ExecError(self.describe(name, &e))),
        }
    }

    /// Tag `value` as a Go object with methods (`.Files`, `APIVersions`).
    pub fn tag(&self, value: &Value, special: Special) {
        self.state.tag(value, special);
    }

    fn describe(&self, name: &str, error: &TemplateError) -> String {
        describe_error(&self.sites, self.position.load(Ordering::SeqCst), name, error)
    }
}

/// Marks a failure at a field node: `AT line:col:node NUL message`.
const AT: &str = "\u{0}AT:";

/// Marks a message that already carries Helm's formatting.
const FORMATTED: &str = "\u{0}FORMATTED:";
/// Marks an error raised inside `tpl`: Helm prints those in Go's native
/// one-line format.
const NATIVE: &str = "\u{0}NATIVE:";

/// Format an execution error at the last recorded action, as Helm 4 does.
fn describe_error(sites: &SiteTable, position: usize, name: &str, error: &TemplateError) -> String {
    let mut message = error_message(error);
    if let Some(done) = message.strip_prefix(FORMATTED) {
        return done.to_string();
    }
    let mut site = sites.get(position);
    let mut at_field = false;
    if let Some((line, col, node, inner)) = split_field_marker(&message) {
        if let Some(site) = site.as_mut() {
            site.line = line;
            site.col = col;
            site.text = node;
        }
        at_field = true;
        message = inner;
    }
    // A function that returned an error: Helm keeps Go's one-line form.
    if !at_field
        && !message.starts_with("error calling ")
        && !message.starts_with("HELM_FAIL:")
        && !message.starts_with(NATIVE)
        && let Some(site) = &site
        && let Some(function) = site.text.split_whitespace().next()
        && function.starts_with(|c: char| c.is_ascii_alphabetic())
        && !matches!(function, "true" | "false" | "nil")
    {
        return format!(
            "template: {}:{}:{}: executing \"{}\" at <{}>: error calling {function}: {message}",
            site.template, site.line, site.col, site.executing, site.text
        );
    }
    if let Some(text) = message.strip_prefix("HELM_FAIL:") {
        return match site {
            Some(site) => format!(
                "execution error at ({}:{}:{}): {text}",
                site.template, site.line, site.col
            ),
            None => format!("execution error: {text}"),
        };
    }
    if let Some(native) = message.strip_prefix(NATIVE) {
        return match site {
            Some(site) => format!(
                "template: {}:{}:{}: executing \"{}\" at <{}>: {native}",
                site.template, site.line, site.col, site.executing, site.text
            ),
            None => format!("template: {name}: {native}"),
        };
    }
    match site {
        Some(site) => format!(
            "{}:{}:{}\n  executing \"{}\" at <{}>:\n    {message}",
            site.template, site.line, site.col, site.executing, site.text
        ),
        None => format!("template: {name}: {message}"),
    }
}

/// The same, in Go's native one-line format (for errors inside `tpl`).
fn describe_error_native(sites: &SiteTable, position: usize, name: &str, error: &TemplateError) -> String {
    let message = error_message(error);
    let message = message
        .strip_prefix(NATIVE)
        .or_else(|| message.strip_prefix(FORMATTED))
        .unwrap_or(&message)
        .to_string();
    let mut site = sites.get(position);
    let message = match split_field_marker(&message) {
        Some((line, col, node, inner)) => {
            if let Some(site) = site.as_mut() {
                site.line = line;
                site.col = col;
                site.text = node;
            }
            inner
        }
        None => message,
    };
    match site {
        Some(site) => format!(
            "template: {}:{}:{}: executing \"{}\" at <{}>: {message}",
            site.template, site.line, site.col, site.executing, site.text
        ),
        None => format!("template: {name}: {message}"),
    }
}

/// `AT line:col:node NUL message` → its parts.
fn split_field_marker(message: &str) -> Option<(usize, usize, String, String)> {
    let rest = message.strip_prefix(AT)?;
    let (location, inner) = rest.split_once('\u{0}')?;
    let mut parts = location.splitn(3, ':');
    let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    let col = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let node = parts.next().unwrap_or_default().to_string();
    Some((line, col, node, inner.to_string()))
}

fn error_message(error: &TemplateError) -> String {
    match error {
        TemplateError::Exec(m) => m.clone(),
        other => other.to_string(),
    }
}

fn install_engine_funcs(
    funcs: &mut FuncMap,
    state: &Arc<State>,
    position: &Arc<AtomicUsize>,
    include_depth: &Arc<AtomicUsize>,
    holder: Weak<OnceLock<Template>>,
    sites: &Arc<SiteTable>,
) {
    let mut add = |name: &str, f: ValueFunc| {
        funcs.insert(name.to_string(), f);
    };

    let pos = Arc::clone(position);
    add(
        "__ferry_at",
        Arc::new(move |args: &[Value]| {
            if let Some(Value::Int(i)) = args.first() {
                pos.store(*i as usize, Ordering::SeqCst);
            }
            Ok(s(""))
        }),
    );

    let st = Arc::clone(state);
    add(
        "__ferry_print",
        Arc::new(move |args: &[Value]| {
            if let Some(Special::Stringer(text)) = args.last().and_then(|v| st.special_of(v)) {
                return Ok(Value::String(text));
            }
            Ok(match args.last().map(|v| st.deep_current(v)) {
                None | Some(Value::Nil) => s("<no value>"),
                Some(Value::String(text)) => Value::String(text),
                Some(other) => s(gofmt::format_v(&other)),
            })
        }),
    );

    let st = Arc::clone(state);
    add(
        "__ferry_current",
        Arc::new(move |args: &[Value]| Ok(args.last().map(|v| st.current(v)).unwrap_or(Value::Nil))),
    );

    let st = Arc::clone(state);
    add(
        "__ferry_field",
        Arc::new(move |args: &[Value]| {
            let mut current = args.get(3).cloned().unwrap_or(Value::Nil);
            for field in args.iter().skip(4) {
                let name = field.as_str().unwrap_or_default();
                current = field_of(&st, &current, name, false).map_err(|e| {
                    let line = args.first().and_then(Value::as_int).unwrap_or(0);
                    let col = args.get(1).and_then(Value::as_int).unwrap_or(0);
                    let node = args.get(2).and_then(Value::as_str).unwrap_or_default();
                    err(format!("{AT}{line}:{col}:{node}\u{0}{}", error_message(&e)))
                })?;
            }
            Ok(current)
        }),
    );

    let st = Arc::clone(state);
    add(
        "__ferry_invoke",
        Arc::new(move |args: &[Value]| {
            let mut current = args.first().cloned().unwrap_or(Value::Nil);
            let path = args
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let fields: Vec<&str> = path.split('.').collect();
            let Some((last, init)) = fields.split_last() else {
                return Err(err("empty method path"));
            };
            for field in init {
                current = field_of(&st, &current, field, false)?;
            }
            let method = field_of(&st, &current, last, true)?;
            match method {
                Value::Function(f) => f(&args[2..]),
                other => Err(err(format!(
                    "can't give argument to non-function {}",
                    match other {
                        Value::Nil => format!(".{last}"),
                        v => gofmt::format_v(&v),
                    }
                ))),
            }
        }),
    );

    // Templates defined inside `tpl` strings are visible to `include` while
    // that `tpl` runs: the innermost extended set is on top of this stack.
    let overlays: Arc<Mutex<Vec<Arc<Template>>>> = Arc::new(Mutex::new(Vec::new()));

    let include_holder = holder.clone();
    let depth = Arc::clone(include_depth);
    let include_pos = Arc::clone(position);
    let include_sites = Arc::clone(sites);
    let include_overlays = Arc::clone(&overlays);
    add(
        "include",
        Arc::new(move |args: &[Value]| {
            let name = args
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let data = args.get(1).cloned().unwrap_or(Value::Nil);
            let overlay = include_overlays
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .last()
                .cloned();
            let Some(holder) = include_holder.upgrade() else {
                return Err(err("include: template set is gone"));
            };
            let template: &Template = match &overlay {
                Some(t) => t,
                None => match holder.get() {
                    Some(t) => t,
                    None => return Err(err("include: template set is not initialised")),
                },
            };
            if template.lookup(&name).is_none() {
                return Err(err(format!(
                    "error calling include:\ntemplate: no template {name:?} associated with template \"gotpl\""
                )));
            }
            let level = depth.fetch_add(1, Ordering::SeqCst);
            let saved_pos = include_pos.load(Ordering::SeqCst);
            let result = if level >= MAX_INCLUDE_DEPTH {
                Err(TemplateError::Exec(format!(
                    "error calling include:\nrendering template has a nested reference name: {name}: unable to execute template"
                )))
            } else {
                // Nested includes recurse on the stack: grow it on the heap
                // when it runs low, so no chart can overflow it.
                stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || {
                    template.execute_template_to_string(&name, &data)
                })
            };
            depth.fetch_sub(1, Ordering::SeqCst);
            match result {
                Ok(out) => {
                    include_pos.store(saved_pos, Ordering::SeqCst);
                    Ok(s(out))
                }
                Err(e) => {
                    let msg = error_message(&e);
                    if msg.starts_with("HELM_FAIL:")
                        || msg.starts_with(NATIVE)
                        || msg.starts_with("error calling include:\nrendering")
                    {
                        return Err(e);
                    }
                    let inner = describe_error(&include_sites, include_pos.load(Ordering::SeqCst), &name, &e);
                    include_pos.store(saved_pos, Ordering::SeqCst);
                    Err(err(format!("error calling include:\n{inner}")))
                }
            }
        }),
    );

    let tpl_holder = holder;
    let tpl_sites = Arc::clone(sites);
    let tpl_pos = Arc::clone(position);
    let tpl_depth = Arc::clone(include_depth);
    let tpl_overlays = overlays;
    add(
        "tpl",
        Arc::new(move |args: &[Value]| {
            let text = match args.first() {
                Some(Value::String(t)) => t.to_string(),
                Some(Value::Nil) | None => String::new(),
                Some(other) => funcs::strval(other),
            };
            let data = args.get(1).cloned().unwrap_or(Value::Nil);
            let base = tpl_overlays
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .last()
                .cloned();
            let base: Template = match base {
                Some(t) => (*t).clone(),
                None => {
                    let Some(holder) = tpl_holder.upgrade() else {
                        return Err(err("tpl: template set is gone"));
                    };
                    let Some(template) = holder.get() else {
                        return Err(err("tpl: template set is not initialised"));
                    };
                    template.clone()
                }
            };
            let saved_pos = tpl_pos.load(Ordering::SeqCst);
            let parsed = parse_source("gotpl", &text, &tpl_sites)
                .map_err(|e| err(format!("{NATIVE}error calling tpl: {e}")))?;
            let mut set = base;
            for (define_name, body) in &parsed.defines {
                set = set.add_parse_tree(define_name, body.clone());
            }
            let key = "\u{0}tpl".to_string();
            set = set.add_parse_tree(&key, parsed.tree);
            let level = tpl_depth.fetch_add(1, Ordering::SeqCst);
            let result = if level >= MAX_INCLUDE_DEPTH {
                Err(TemplateError::Exec("tpl: nesting too deep".to_string()))
            } else {
                let set = Arc::new(set);
                tpl_overlays
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Arc::clone(&set));
                let r = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || {
                    set.execute_template_to_string(&key, &data)
                });
                tpl_overlays
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop();
                r
            };
            tpl_depth.fetch_sub(1, Ordering::SeqCst);
            match result {
                Ok(out) => {
                    tpl_pos.store(saved_pos, Ordering::SeqCst);
                    Ok(s(out.replace("<no value>", "")))
                }
                Err(e) => {
                    let msg = error_message(&e);
                    if msg.starts_with("HELM_FAIL:") {
                        return Err(e);
                    }
                    let inner =
                        describe_error_native(&tpl_sites, tpl_pos.load(Ordering::SeqCst), "gotpl", &e);
                    tpl_pos.store(saved_pos, Ordering::SeqCst);
                    Err(err(format!(
                        "{NATIVE}error calling tpl: error during tpl function execution for {}: {inner}",
                        funcs::go_quote(&text)
                    )))
                }
            }
        }),
    );
}

/// Go's field evaluation on a template value, including the methods of the
/// objects Helm exposes. With `want_method`, a method is returned unevaluated.
fn field_of(state: &State, receiver: &Value, name: &str, want_method: bool) -> Result<Value, TemplateError> {
    if let Some(special) = state.special_of(receiver)
        && let Some(method) = special_method(state, &special, receiver, name)
    {
        if want_method {
            return Ok(method);
        }
        if let Value::Function(f) = method {
            return f(&[]);
        }
    }
    match state.current(receiver) {
        Value::Map(m) => Ok(m.get(name).cloned().unwrap_or(Value::Nil)),
        Value::Nil => Err(err(format!("nil pointer evaluating interface {{}}.{name}"))),
        other => Err(err(format!(
            "can't evaluate field {name} in type {}",
            funcs::go_type_name(&other)
        ))),
    }
}

fn special_method(state: &State, special: &Special, receiver: &Value, name: &str) -> Option<Value> {
    match special {
        Special::VersionSet => {
            if name != "Has" {
                return None;
            }
            let versions: Arc<[String]> = match receiver {
                Value::List(items) => items.iter().map(funcs::strval).collect(),
                _ => Arc::from(Vec::new()),
            };
            Some(Value::Function(version_set_has(versions)))
        }
        Special::Files(files) => crate::files::method(state, files, name),
        Special::Stringer(_) => None,
    }
}

/// A `Has` method bound to a version set.
pub fn version_set_has(versions: Arc<[String]>) -> ValueFunc {
    Arc::new(move |args: &[Value]| {
        let wanted = args.first().map(funcs::strval).unwrap_or_default();
        Ok(Value::Bool(versions.contains(&wanted)))
    })
}

/// Build the value of a Go struct-like object (string keys) for templates.
pub fn object(pairs: Vec<(&str, Value)>) -> Value {
    let m: BTreeMap<Arc<str>, Value> = pairs.into_iter().map(|(k, v)| (Arc::from(k), v)).collect();
    Value::Map(Arc::new(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, data: Value) -> Result<String, String> {
        let set = TemplateSet::parse(&[("t".to_string(), src.to_string())]).map_err(|e| e.0)?;
        let renderer = set.renderer();
        renderer.execute("t", &data).map_err(|e| e.0)
    }

    fn values(json: serde_json::Value) -> Value {
        object(vec![("Values", crate::json::from_serde(&json))])
    }

    #[test]
    fn renders_with_helm_value_semantics() {
        let table: &[(&str, serde_json::Value, &str)] = &[
            ("{{ .Values.big }}", serde_json::json!({"big": 1000000}), "1e+06"),
            (
                "{{ .Values.big | int }}",
                serde_json::json!({"big": 1000000}),
                "1000000",
            ),
            ("[{{ .Values.missing }}]", serde_json::json!({}), "[]"),
            (
                "{{ .Values.m }}",
                serde_json::json!({"m": {"b": 2, "a": 1}}),
                "map[a:1 b:2]",
            ),
            ("{{ .Values.l }}", serde_json::json!({"l": ["x", 1.5]}), "[x 1.5]"),
            (
                "{{ $d := dict }}{{ $_ := set $d \"k\" \"v\" }}{{ $d.k }}",
                serde_json::json!({}),
                "v",
            ),
            (
                "{{ $_ := set .Values \"x\" 1 }}{{ range $k, $v := .Values }}{{ $k }}={{ $v }};{{ end }}",
                serde_json::json!({"a": 2}),
                "a=2;x=1;",
            ),
            (
                "{{ define \"t2\" }}[{{ . }}]{{ end }}{{ include \"t2\" .Values.a | upper }}",
                serde_json::json!({"a": "x"}),
                "[X]",
            ),
            (
                "{{ tpl \"{{ .Values.a }}!\" . }}",
                serde_json::json!({"a": "x"}),
                "x!",
            ),
            (
                "{{ .Values.a | toYaml | nindent 2 }}",
                serde_json::json!({"a": {"b": [1, true]}}),
                "\n  b:\n  - 1\n  - true",
            ),
            (
                "{{ printf \"%v\" (dict \"b\" 2 \"a\" 1) }}",
                serde_json::json!({}),
                "map[a:1 b:2]",
            ),
        ];
        for (src, vals, want) in table {
            assert_eq!(render(src, values(vals.clone())).as_deref(), Ok(*want), "{src}");
        }
    }

    #[test]
    fn nil_field_access_fails_like_go_with_position() {
        let e = render("a\n  {{ .Values.x.y }}", values(serde_json::json!({}))).expect_err("must fail");
        assert_eq!(
            e,
            "t:2:12\n  executing \"t\" at <.Values.x.y>:\n    nil pointer evaluating interface {}.y"
        );
    }

    #[test]
    fn fail_and_required_report_helm_style() {
        let e = render("{{ fail \"boom\" }}", values(serde_json::json!({}))).expect_err("must fail");
        assert_eq!(e, "execution error at (t:1:3): boom");
        let e = render(
            "x{{ required \"need a\" .Values.a }}",
            values(serde_json::json!({})),
        )
        .expect_err("must fail");
        assert_eq!(e, "execution error at (t:1:4): need a");
    }

    #[test]
    fn parse_errors_use_helm_format() {
        let e = render("{{ nofunc 1 }}", values(serde_json::json!({}))).expect_err("must fail");
        assert_eq!(e, "parse error at (t:1): function \"nofunc\" not defined");
        let e = render(
            "{{ define \"a\" }}x{{ end }}\n{{ define \"a\" }}y{{ end }}",
            values(serde_json::json!({})),
        )
        .expect_err("must fail");
        assert_eq!(e, "parse error at (t:2): multiple definition of template \"a\"");
    }

    #[test]
    fn include_errors_nest_like_helm() {
        let e = render(
            "{{ include \"t2\" . }}{{ define \"t2\" }}{{ .Values.z.z }}{{ end }}",
            values(serde_json::json!({})),
        )
        .expect_err("must fail");
        assert_eq!(
            e,
            "t:1:3\n  executing \"t\" at <include \"t2\" .>:\n    error calling include:\nt:1:47\n  executing \"t2\" at <.Values.z.z>:\n    nil pointer evaluating interface {}.z"
        );
    }

    #[test]
    fn include_recursion_is_capped_without_overflowing_the_stack() {
        // Runs on the ordinary (small) test thread stack on purpose.
        let e = render(
            "{{ define \"r\" }}{{ if true }}{{ with . }}{{ include \"r\" . }}{{ end }}{{ end }}{{ end }}{{ include \"r\" . }}",
            values(serde_json::json!({})),
        )
        .expect_err("must fail");
        assert!(e.contains("nested reference name: r"), "{e}");
    }
}
