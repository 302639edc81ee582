package dev.longctx.models.template;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Builds the {@link Stmt}/{@link Expr} tree of a template from its tokens, with jinja2's grammar
 * and operator precedence (filters bind tighter than arithmetic, {@code **} is left-associative,
 * comparisons chain, {@code ~} is n-ary). Recursion is bounded: every nested block, bracket and
 * unary operator counts against {@link TemplateLimits#maxNestingDepth()}, and so does the height
 * of every expression tree, so neither parsing nor evaluating can exhaust the stack. Statements
 * outside the supported subset ({@code include}, {@code import}, {@code extends}, {@code call}...)
 * are refused here, with their line. One instance parses one template and is then discarded.
 */
final class Parser {
    private static final Set<String> COMPARE_OPS = Set.of("==", "!=", "<", "<=", ">", ">=");

    private final Source source;
    private final List<Token> tokens;
    private final TemplateLimits limits;
    private int index;
    private int depth;
    private int loopDepth;
    /** The open blocks, innermost first, for messages about misplaced or missing end tags. */
    private final Deque<Open> open = new ArrayDeque<>();
    /** Names referenced in the bodies of the macros being parsed (for varargs / kwargs). */
    private final Deque<Set<String>> macroNames = new ArrayDeque<>();

    private record Open(String tag, int pos, Set<String> ends) { }

    private Parser(Source source, List<Token> tokens, TemplateLimits limits) {
        this.source = source;
        this.tokens = tokens;
        this.limits = limits;
    }

    static List<Stmt> parse(Source source, TemplateLimits limits) {
        Parser p = new Parser(source, Lexer.tokenize(source), limits);
        return p.subparse(null);
    }

    // ---- token helpers ----

    private Token cur() {
        return tokens.get(index);
    }

    private Token peek() {
        return tokens.get(Math.min(index + 1, tokens.size() - 1));
    }

    private Token advance() {
        Token t = tokens.get(index);
        if (index < tokens.size() - 1) {
            index++;
        }
        return t;
    }

    private boolean atOp(String op) {
        return cur().isOp(op);
    }

    private boolean atName(String name) {
        return cur().isName(name);
    }

    private TemplateError error(Token at, String reason) {
        return error(at.offset(), reason);
    }

    private TemplateError error(int offset, String reason) {
        return new TemplateError(TemplateError.Kind.SYNTAX, reason, source.line(offset), source.column(offset), null);
    }

    private Token expect(Token.Kind kind, String what) {
        Token t = cur();
        if (t.kind() != kind) {
            throw error(t, "expected " + what + ", got " + t.describe());
        }
        return advance();
    }

    private Token expectOp(String op) {
        Token t = cur();
        if (!t.isOp(op)) {
            throw error(t, "expected '" + op + "', got " + t.describe());
        }
        return advance();
    }

    private String expectName() {
        return expect(Token.Kind.NAME, "a name").text();
    }

    private void enter(Token at) {
        if (++depth > limits.maxNestingDepth()) {
            throw new TemplateError(TemplateError.Kind.LIMIT, "template nests deeper than the limit of " + limits.maxNestingDepth(),
                    source.line(at.offset()), source.column(at.offset()), null);
        }
    }

    private void leave() {
        depth--;
    }

    /** Height of a node over these children, checked against the nesting bound. */
    private int height(int pos, Expr... kids) {
        int m = 0;
        for (Expr k : kids) {
            if (k != null) {
                m = Math.max(m, k.height());
            }
        }
        return checkHeight(pos, m + 1);
    }

    private int height(int pos, List<Expr> kids, Expr... more) {
        int m = height(pos, more) - 1;
        for (Expr k : kids) {
            m = Math.max(m, k.height());
        }
        return checkHeight(pos, m + 1);
    }

    private int height(int pos, Expr.Args args, Expr... more) {
        List<Expr> all = new ArrayList<>(args.positional());
        all.addAll(args.values());
        return height(pos, all, more);
    }

    private int checkHeight(int pos, int h) {
        if (h > limits.maxNestingDepth()) {
            throw new TemplateError(TemplateError.Kind.LIMIT, "expression nests deeper than the limit of " + limits.maxNestingDepth(),
                    source.line(pos), source.column(pos), null);
        }
        return h;
    }

    // ---- statements ----

    /** Parses until EOF or a block tag named in {@code ends} (left as the current token). */
    private List<Stmt> subparse(Set<String> ends) {
        List<Stmt> body = new ArrayList<>();
        while (true) {
            Token t = cur();
            switch (t.kind()) {
                case DATA -> {
                    body.add(new Stmt.Text(t.offset(), t.text()));
                    advance();
                }
                case VAR_BEGIN -> {
                    advance();
                    Expr e = parseTuple(true, Set.of(), false);
                    expect(Token.Kind.VAR_END, "end of print statement");
                    body.add(new Stmt.Print(t.offset(), e));
                }
                case BLOCK_BEGIN -> {
                    advance();
                    if (ends != null && cur().kind() == Token.Kind.NAME && ends.contains(cur().text())) {
                        return body;
                    }
                    body.add(parseStatement());
                    expect(Token.Kind.BLOCK_END, "end of statement block");
                }
                case EOF -> {
                    return body;
                }
                default -> throw error(t, "unexpected " + t.describe());
            }
        }
    }

    /** {@code [:] %}} body up to one of {@code ends}; drops the end tag's name when asked. */
    private List<Stmt> parseBody(String tag, int pos, Set<String> ends, boolean dropEnd) {
        if (atOp(":")) {
            advance();
        }
        expect(Token.Kind.BLOCK_END, "end of statement block");
        enter(cur());
        open.push(new Open(tag, pos, ends));
        List<Stmt> body = subparse(ends);
        open.pop();
        leave();
        if (cur().kind() == Token.Kind.EOF) {
            throw error(cur(), "unexpected end of template: the '" + tag + "' opened at line " + source.line(pos)
                    + " is never closed (expected " + describeEnds(ends) + ")");
        }
        if (dropEnd) {
            advance();
        }
        return body;
    }

    private static String describeEnds(Set<String> ends) {
        List<String> sorted = new ArrayList<>(ends);
        sorted.sort(null);
        sorted.replaceAll(e -> "'" + e + "'");
        return String.join(" or ", sorted);
    }

    private Stmt parseStatement() {
        Token t = cur();
        if (t.kind() != Token.Kind.NAME) {
            throw error(t, "tag name expected, got " + t.describe());
        }
        return switch (t.text()) {
            case "for" -> parseFor();
            case "if" -> parseIf();
            case "set" -> parseSet();
            case "macro" -> parseMacro();
            case "filter" -> parseFilterBlock();
            case "with" -> parseWith();
            case "print" -> parsePrint();
            case "break", "continue" -> {
                if (loopDepth == 0) {
                    throw error(t, "'" + t.text() + "' outside a loop");
                }
                advance();
                yield t.text().equals("break") ? new Stmt.Break(t.offset()) : new Stmt.Continue(t.offset());
            }
            case "generation" -> {
                advance();
                yield new Stmt.Block(t.offset(), parseBody("generation", t.offset(), Set.of("endgeneration"), true), true);
            }
            case "include", "import", "from" -> throw error(t, "'" + t.text()
                    + "' is not supported: a chat template cannot load other templates");
            case "extends", "block" -> throw error(t, "'" + t.text() + "' is not supported: chat templates have no template inheritance");
            case "call" -> throw error(t, "'call' blocks are not supported");
            case "autoescape" -> throw error(t, "'autoescape' blocks are not supported (output is never escaped)");
            case "do" -> throw error(t, "unknown tag 'do' (the 'do' extension is not enabled, as in transformers)");
            default -> throw misplaced(t);
        };
    }

    private TemplateError misplaced(Token t) {
        for (Open o : open) {
            if (o.ends().contains(t.text())) {
                Open inner = open.peek();
                return error(t, "unexpected '" + t.text() + "': the innermost open block is the '" + inner.tag() + "' at line "
                        + source.line(inner.pos()) + ", which expects " + describeEnds(inner.ends()));
            }
        }
        if (t.text().startsWith("end") || t.text().equals("else") || t.text().equals("elif")) {
            return error(t, "unexpected '" + t.text() + "'" + (open.isEmpty() ? ": no block is open" : ": the innermost open block is the '"
                    + open.peek().tag() + "' at line " + source.line(open.peek().pos()) + ", which expects "
                    + describeEnds(open.peek().ends())));
        }
        return error(t, "unknown tag '" + t.text() + "'");
    }

    private Stmt parseFor() {
        Token t = advance();
        Stmt.Target target = parseTargetTuple(Set.of("in"));
        if (!atName("in")) {
            throw error(cur(), "expected 'in', got " + cur().describe());
        }
        advance();
        Expr iter = parseTuple(false, Set.of("recursive"), false);
        Expr filter = null;
        if (atName("if")) {
            advance();
            filter = parseExpression(true);
        }
        if (atName("recursive")) {
            throw error(cur(), "recursive loops are not supported");
        }
        loopDepth++;
        List<Stmt> body = parseBody("for", t.offset(), Set.of("endfor", "else"), false);
        loopDepth--;
        List<Stmt> orElse = List.of();
        if (advance().text().equals("else")) {
            orElse = parseBody("for", t.offset(), Set.of("endfor"), true);
        }
        return new Stmt.For(t.offset(), target, iter, filter, body, orElse);
    }

    private Stmt parseIf() {
        Token t = advance();
        List<Expr> tests = new ArrayList<>();
        List<List<Stmt>> bodies = new ArrayList<>();
        List<Stmt> orElse = List.of();
        while (true) {
            tests.add(parseTuple(false, Set.of(), false));
            bodies.add(parseBody("if", t.offset(), Set.of("elif", "else", "endif"), false));
            String end = advance().text();
            if (end.equals("elif")) {
                continue;
            }
            if (end.equals("else")) {
                orElse = parseBody("if", t.offset(), Set.of("endif"), true);
            }
            break;
        }
        return new Stmt.If(t.offset(), tests, bodies, orElse);
    }

    private Stmt parseSet() {
        Token t = advance();
        Stmt.Target target;
        if (cur().kind() == Token.Kind.NAME && peek().isOp(".")) {
            String ns = advance().text();
            advance();
            target = new Stmt.Target.NsAttr(ns, expectName());
        } else {
            target = parseTargetTuple(Set.of());
        }
        if (atOp("=")) {
            advance();
            return new Stmt.Set(t.offset(), target, parseTuple(true, Set.of(), false));
        }
        if (target instanceof Stmt.Target.Tuple) {
            throw error(t, "a block 'set' assigns one name, not a tuple");
        }
        Expr.Filter filter = atOp("|") ? (Expr.Filter) parseFilterChain(null, false) : null;
        return new Stmt.SetBlock(t.offset(), target, filter, parseBody("set", t.offset(), Set.of("endset"), true));
    }

    private Stmt parseMacro() {
        Token t = advance();
        String name = assignableName();
        expectOp("(");
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        while (!atOp(")")) {
            if (!params.isEmpty()) {
                expectOp(",");
            }
            String p = assignableName();
            if (atOp("=")) {
                advance();
                defaults.add(parseExpression(true));
            } else if (!defaults.isEmpty()) {
                throw error(cur(), "non-default argument follows default argument");
            }
            params.add(p);
        }
        expectOp(")");
        macroNames.push(new HashSet<>());
        int savedLoops = loopDepth;
        loopDepth = 0;
        List<Stmt> body = parseBody("macro", t.offset(), Set.of("endmacro"), true);
        loopDepth = savedLoops;
        Set<String> used = macroNames.pop();
        if (!macroNames.isEmpty()) {
            macroNames.peek().addAll(used);
        }
        if (used.contains("caller")) {
            throw error(t, "macros using 'caller' ({% call %} blocks) are not supported");
        }
        return new Stmt.Macro(t.offset(), name, params, defaults, body, used.contains("varargs"), used.contains("kwargs"));
    }

    private String assignableName() {
        Token n = expect(Token.Kind.NAME, "a name");
        if (isConstantName(n.text())) {
            throw error(n, "can't assign to '" + n.text() + "'");
        }
        return n.text();
    }

    private static boolean isConstantName(String s) {
        return switch (s) {
            case "true", "false", "none", "True", "False", "None" -> true;
            default -> false;
        };
    }

    private Stmt parseFilterBlock() {
        Token t = advance();
        Expr.Filter f = (Expr.Filter) parseFilterChain(null, true);
        return new Stmt.FilterBlock(t.offset(), f, parseBody("filter", t.offset(), Set.of("endfilter"), true));
    }

    private Stmt parseWith() {
        Token t = advance();
        List<Stmt.Target> targets = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (cur().kind() != Token.Kind.BLOCK_END) {
            if (!targets.isEmpty()) {
                expectOp(",");
            }
            targets.add(parseTargetTuple(Set.of()));
            expectOp("=");
            values.add(parseExpression(true));
        }
        return new Stmt.With(t.offset(), targets, values, parseBody("with", t.offset(), Set.of("endwith"), true));
    }

    private Stmt parsePrint() {
        Token t = advance();
        List<Stmt> prints = new ArrayList<>();
        while (cur().kind() != Token.Kind.BLOCK_END) {
            if (!prints.isEmpty()) {
                expectOp(",");
            }
            Expr e = parseExpression(true);
            prints.add(new Stmt.Print(e.pos(), e));
        }
        return new Stmt.Block(t.offset(), prints, false);
    }

    /** An assignment target: a name, or names separated by commas (optionally parenthesised). */
    private Stmt.Target parseTargetTuple(Set<String> extraEnds) {
        List<Stmt.Target> items = new ArrayList<>();
        boolean isTuple = false;
        while (true) {
            if (!items.isEmpty()) {
                expectOp(",");
            }
            if (isTupleEnd(extraEnds)) {
                break;
            }
            items.add(parseTargetPrimary());
            if (atOp(",")) {
                isTuple = true;
            } else {
                break;
            }
        }
        if (!isTuple) {
            if (items.isEmpty()) {
                throw error(cur(), "expected an assignment target, got " + cur().describe());
            }
            return items.get(0);
        }
        return new Stmt.Target.Tuple(items);
    }

    private Stmt.Target parseTargetPrimary() {
        Token t = cur();
        if (t.kind() == Token.Kind.NAME) {
            return new Stmt.Target.Name(assignableName());
        }
        if (t.isOp("(")) {
            advance();
            enter(t);
            Stmt.Target inner = parseTargetTuple(Set.of());
            leave();
            expectOp(")");
            return inner;
        }
        throw error(t, "can't assign to " + t.describe());
    }

    private boolean isTupleEnd(Set<String> extraEnds) {
        Token t = cur();
        return t.kind() == Token.Kind.VAR_END || t.kind() == Token.Kind.BLOCK_END || t.isOp(")")
                || (t.kind() == Token.Kind.NAME && extraEnds.contains(t.text()));
    }

    // ---- expressions ----

    private Expr parseTuple(boolean withCondexpr, Set<String> extraEnds, boolean explicitParens) {
        int pos = cur().offset();
        List<Expr> items = new ArrayList<>();
        boolean isTuple = false;
        while (true) {
            if (!items.isEmpty()) {
                expectOp(",");
            }
            if (isTupleEnd(extraEnds)) {
                break;
            }
            items.add(parseExpression(withCondexpr));
            if (atOp(",")) {
                isTuple = true;
            } else {
                break;
            }
        }
        if (!isTuple) {
            if (!items.isEmpty()) {
                return items.get(0);
            }
            if (!explicitParens) {
                throw error(cur(), "expected an expression, got " + cur().describe());
            }
        }
        return new Expr.TupleLit(pos, height(pos, items), List.copyOf(items));
    }

    private Expr parseExpression(boolean withCondexpr) {
        enter(cur());
        try {
            return withCondexpr ? parseCondexpr() : parseOr();
        } finally {
            leave();
        }
    }

    private Expr parseCondexpr() {
        int pos = cur().offset();
        Expr e1 = parseOr();
        while (atName("if")) {
            advance();
            Expr e2 = parseOr();
            Expr e3 = null;
            if (atName("else")) {
                advance();
                enter(cur());
                e3 = parseCondexpr();
                leave();
            }
            e1 = new Expr.Cond(pos, height(pos, e2, e1, e3), e2, e1, e3);
        }
        return e1;
    }

    private Expr parseOr() {
        Expr left = parseAnd();
        while (atName("or")) {
            int pos = advance().offset();
            Expr right = parseAnd();
            left = new Expr.Or(pos, height(pos, left, right), left, right);
        }
        return left;
    }

    private Expr parseAnd() {
        Expr left = parseNot();
        while (atName("and")) {
            int pos = advance().offset();
            Expr right = parseNot();
            left = new Expr.And(pos, height(pos, left, right), left, right);
        }
        return left;
    }

    private Expr parseNot() {
        if (atName("not")) {
            Token t = advance();
            enter(t);
            Expr e = parseNot();
            leave();
            return new Expr.Not(t.offset(), height(t.offset(), e), e);
        }
        return parseCompare();
    }

    private Expr parseCompare() {
        int pos = cur().offset();
        Expr first = parseMath1();
        List<String> ops = new ArrayList<>();
        List<Expr> rest = new ArrayList<>();
        while (true) {
            Token t = cur();
            if (t.kind() == Token.Kind.OPERATOR && COMPARE_OPS.contains(t.text())) {
                advance();
                ops.add(t.text());
            } else if (t.isName("in")) {
                advance();
                ops.add("in");
            } else if (t.isName("not") && peek().isName("in")) {
                advance();
                advance();
                ops.add("not in");
            } else {
                break;
            }
            rest.add(parseMath1());
        }
        if (ops.isEmpty()) {
            return first;
        }
        return new Expr.Compare(pos, height(pos, rest, first), first, List.copyOf(ops), List.copyOf(rest));
    }

    private Expr parseMath1() {
        Expr left = parseConcat();
        while (atOp("+") || atOp("-")) {
            Token t = advance();
            Expr right = parseConcat();
            left = new Expr.Binary(t.offset(), height(t.offset(), left, right), t.text().equals("+") ? Expr.BinOp.ADD : Expr.BinOp.SUB,
                    left, right);
        }
        return left;
    }

    private Expr parseConcat() {
        int pos = cur().offset();
        List<Expr> parts = new ArrayList<>();
        parts.add(parseMath2());
        while (atOp("~")) {
            advance();
            parts.add(parseMath2());
        }
        return parts.size() == 1 ? parts.get(0) : new Expr.Concat(pos, height(pos, parts), List.copyOf(parts));
    }

    private Expr parseMath2() {
        Expr left = parsePow();
        while (atOp("*") || atOp("/") || atOp("//") || atOp("%")) {
            Token t = advance();
            Expr.BinOp op = switch (t.text()) {
                case "*" -> Expr.BinOp.MUL;
                case "/" -> Expr.BinOp.DIV;
                case "//" -> Expr.BinOp.FLOORDIV;
                default -> Expr.BinOp.MOD;
            };
            Expr right = parsePow();
            left = new Expr.Binary(t.offset(), height(t.offset(), left, right), op, left, right);
        }
        return left;
    }

    private Expr parsePow() {
        Expr left = parseUnary(true);
        while (atOp("**")) {
            Token t = advance();
            Expr right = parseUnary(true);
            left = new Expr.Binary(t.offset(), height(t.offset(), left, right), Expr.BinOp.POW, left, right);
        }
        return left;
    }

    private Expr parseUnary(boolean withFilter) {
        Token t = cur();
        Expr node;
        if (t.isOp("-") || t.isOp("+")) {
            advance();
            enter(t);
            Expr operand = parseUnary(false);
            leave();
            int h = height(t.offset(), operand);
            node = t.isOp("-") ? new Expr.Neg(t.offset(), h, operand) : new Expr.Pos(t.offset(), h, operand);
        } else {
            node = parsePrimary();
        }
        node = parsePostfix(node);
        return withFilter ? parseFilterExpr(node) : node;
    }

    private Expr parsePrimary() {
        Token t = cur();
        int pos = t.offset();
        switch (t.kind()) {
            case NAME -> {
                advance();
                return switch (t.text()) {
                    case "true", "True" -> new Expr.Const(pos, 1, Boolean.TRUE);
                    case "false", "False" -> new Expr.Const(pos, 1, Boolean.FALSE);
                    case "none", "None" -> new Expr.Const(pos, 1, NoneValue.NONE);
                    default -> {
                        if (!macroNames.isEmpty()) {
                            macroNames.peek().add(t.text());
                        }
                        yield new Expr.Name(pos, 1, t.text());
                    }
                };
            }
            case STRING -> {
                StringBuilder sb = new StringBuilder();
                while (cur().kind() == Token.Kind.STRING) {
                    sb.append((String) advance().value());
                }
                return new Expr.Const(pos, 1, sb.toString());
            }
            case INTEGER, FLOAT -> {
                advance();
                return new Expr.Const(pos, 1, t.value());
            }
            default -> {
                if (t.isOp("(")) {
                    advance();
                    Expr e = parseTuple(true, Set.of(), true);
                    expectOp(")");
                    return e;
                }
                if (t.isOp("[")) {
                    return parseList();
                }
                if (t.isOp("{")) {
                    return parseDict();
                }
                throw error(t, "unexpected " + t.describe());
            }
        }
    }

    private Expr parseList() {
        int pos = expectOp("[").offset();
        List<Expr> items = new ArrayList<>();
        while (!atOp("]")) {
            if (!items.isEmpty()) {
                expectOp(",");
            }
            if (atOp("]")) {
                break;
            }
            items.add(parseExpression(true));
        }
        expectOp("]");
        return new Expr.ListLit(pos, height(pos, items), List.copyOf(items));
    }

    private Expr parseDict() {
        int pos = expectOp("{").offset();
        List<Expr> keys = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (!atOp("}")) {
            if (!keys.isEmpty()) {
                expectOp(",");
            }
            if (atOp("}")) {
                break;
            }
            keys.add(parseExpression(true));
            expectOp(":");
            values.add(parseExpression(true));
        }
        expectOp("}");
        List<Expr> all = new ArrayList<>(keys);
        all.addAll(values);
        return new Expr.DictLit(pos, height(pos, all), List.copyOf(keys), List.copyOf(values));
    }

    private Expr parsePostfix(Expr node) {
        while (true) {
            if (atOp(".") || atOp("[")) {
                node = parseSubscript(node);
            } else if (atOp("(")) {
                node = parseCall(node);
            } else {
                return node;
            }
        }
    }

    private Expr parseFilterExpr(Expr node) {
        while (true) {
            if (atOp("|")) {
                node = parseFilterChain(node, false);
            } else if (atName("is")) {
                node = parseTest(node);
            } else if (atOp("(")) {
                node = parseCall(node);
            } else {
                return node;
            }
        }
    }

    private Expr parseSubscript(Expr node) {
        Token t = advance();
        int pos = t.offset();
        if (t.isOp(".")) {
            Token attr = advance();
            if (attr.kind() == Token.Kind.NAME) {
                return new Expr.GetAttr(pos, height(pos, node), node, attr.text());
            }
            if (attr.kind() == Token.Kind.INTEGER) {
                Expr key = new Expr.Const(attr.offset(), 1, attr.value());
                return new Expr.GetItem(pos, height(pos, node, key), node, key);
            }
            throw error(attr, "expected name or number after '.', got " + attr.describe());
        }
        List<Expr> args = new ArrayList<>();
        while (!atOp("]")) {
            if (!args.isEmpty()) {
                expectOp(",");
            }
            args.add(parseSubscribed());
        }
        expectOp("]");
        Expr key = args.size() == 1 ? args.get(0) : new Expr.TupleLit(pos, height(pos, args), List.copyOf(args));
        return new Expr.GetItem(pos, height(pos, node, key), node, key);
    }

    private Expr parseSubscribed() {
        int pos = cur().offset();
        Expr start = null;
        if (atOp(":")) {
            advance();
        } else {
            Expr e = parseExpression(true);
            if (!atOp(":")) {
                return e;
            }
            advance();
            start = e;
        }
        Expr stop = null;
        if (!atOp(":") && !atOp("]") && !atOp(",")) {
            stop = parseExpression(true);
        }
        Expr step = null;
        if (atOp(":")) {
            advance();
            if (!atOp("]") && !atOp(",")) {
                step = parseExpression(true);
            }
        }
        return new Expr.Slice(pos, height(pos, start, stop, step), start, stop, step);
    }

    private Expr parseCall(Expr node) {
        int pos = cur().offset();
        Expr.Args args = parseCallArgs();
        return new Expr.Call(pos, height(pos, args, node), node, args);
    }

    private Expr.Args parseCallArgs() {
        Token open = expectOp("(");
        List<Expr> positional = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        boolean requireComma = false;
        while (!atOp(")")) {
            if (requireComma) {
                expectOp(",");
                if (atOp(")")) {
                    break;
                }
            }
            if (atOp("*") || atOp("**")) {
                throw error(cur(), "*args and **kwargs in calls are not supported");
            }
            if (cur().kind() == Token.Kind.NAME && peek().isOp("=")) {
                Token key = advance();
                advance();
                if (names.contains(key.text())) {
                    throw error(key, "keyword argument '" + key.text() + "' repeated");
                }
                names.add(key.text());
                values.add(parseExpression(true));
            } else {
                if (!names.isEmpty()) {
                    throw error(cur(), "positional argument follows keyword argument");
                }
                positional.add(parseExpression(true));
            }
            requireComma = true;
        }
        expectOp(")");
        if (positional.isEmpty() && names.isEmpty()) {
            return Expr.Args.NONE;
        }
        return new Expr.Args(List.copyOf(positional), List.copyOf(names), List.copyOf(values));
    }

    private Expr parseFilterChain(Expr node, boolean startInline) {
        while (atOp("|") || startInline) {
            if (!startInline) {
                advance();
            }
            Token t = expect(Token.Kind.NAME, "a filter name");
            String name = t.text();
            while (atOp(".")) {
                advance();
                name += "." + expectName();
            }
            Expr.Args args = atOp("(") ? parseCallArgs() : Expr.Args.NONE;
            node = new Expr.Filter(t.offset(), height(t.offset(), args, node), node, name, args);
            startInline = false;
        }
        return node;
    }

    private Expr parseTest(Expr node) {
        Token is = advance();
        boolean negated = false;
        if (atName("not")) {
            advance();
            negated = true;
        }
        String name = expectName();
        while (atOp(".")) {
            advance();
            name += "." + expectName();
        }
        Expr.Args args = Expr.Args.NONE;
        Token c = cur();
        if (c.isOp("(")) {
            args = parseCallArgs();
        } else if ((c.kind() == Token.Kind.NAME || c.kind() == Token.Kind.STRING || c.kind() == Token.Kind.INTEGER
                || c.kind() == Token.Kind.FLOAT || c.isOp("[") || c.isOp("{"))
                && !(c.isName("else") || c.isName("or") || c.isName("and"))) {
            if (c.isName("is")) {
                throw error(c, "you cannot chain multiple tests with 'is'");
            }
            args = new Expr.Args(List.of(parsePostfix(parsePrimary())), List.of(), List.of());
        }
        int pos = is.offset();
        Expr test = new Expr.Test(pos, height(pos, args, node), node, name, args);
        return negated ? new Expr.Not(pos, height(pos, test), test) : test;
    }
}
