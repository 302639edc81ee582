package dev.longctx.models.template;

import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The global functions a template may call: jinja2's {@code range} (bounded by
 * {@link TemplateLimits#maxRangeLength()}), {@code dict}, {@code namespace}, {@code cycler},
 * {@code joiner}, and transformers' {@code raise_exception(message)} and
 * {@code strftime_now(format)}. The functions are stateless and shared; the objects they make
 * ({@code cycler}, {@code joiner}, namespaces) belong to one render.
 */
final class Globals {
    private Globals() {
    }

    /** A global function. */
    record Builtin(String name, BiFunction<RenderContext, CallArgs, Object> body) implements TemplateCallable {
        @Override
        public String describe() {
            return "<built-in function " + name + ">";
        }

        @Override
        public Object call(RenderContext ctx, CallArgs args) {
            CallArgs named = args.named(name);
            Object r = body.apply(ctx, named);
            named.done();
            return r;
        }
    }

    private static final Map<String, Builtin> FUNCTIONS = Map.of(
            "range", new Builtin("range", Globals::range),
            "dict", new Builtin("dict", Globals::dict),
            "namespace", new Builtin("namespace", Globals::namespace),
            "cycler", new Builtin("cycler", (ctx, a) -> new Cycler(List.copyOf(a.rest(0)))),
            "joiner", new Builtin("joiner", (ctx, a) -> new Joiner(a.get(0, "sep", ", "))),
            "raise_exception", new Builtin("raise_exception", (ctx, a) -> {
                throw new TemplateError(TemplateError.Kind.RAISED, Values.str(a.required(0, "message"), ctx));
            }),
            "strftime_now", new Builtin("strftime_now", (ctx, a) -> {
                Object fmt = a.required(0, "format");
                if (!(fmt instanceof String f)) {
                    throw TemplateError.render("strftime() argument 1 must be str, not " + Values.typeName(fmt));
                }
                return Strftime.format(f, LocalDateTime.now(ctx.clock));
            }));

    /** The global function {@code name}, or null. */
    static Object get(String name) {
        return FUNCTIONS.get(name);
    }

    private static long rangeArg(Object v) {
        if (Values.isInt(v)) {
            return Values.asLong(v);
        }
        if (v instanceof Undefined u) {
            throw u.fail();
        }
        throw TemplateError.render("'" + Values.typeName(v) + "' object cannot be interpreted as an integer");
    }

    private static Object range(RenderContext ctx, CallArgs a) {
        List<Object> args = a.rest(0);
        if (args.isEmpty() || args.size() > 3) {
            throw TemplateError.render("range expected 1 to 3 arguments, got " + args.size());
        }
        long start = args.size() == 1 ? 0 : rangeArg(args.get(0));
        long stop = rangeArg(args.get(args.size() == 1 ? 0 : 1));
        long step = args.size() == 3 ? rangeArg(args.get(2)) : 1;
        if (step == 0) {
            throw TemplateError.render("range() arg 3 must not be zero");
        }
        double count = step > 0 ? Math.ceil(((double) stop - start) / step) : Math.ceil(((double) start - stop) / -step);
        if (count > ctx.limits.maxRangeLength()) {
            throw TemplateError.limit("range() of " + (long) count + " elements exceeds the limit of " + ctx.limits.maxRangeLength());
        }
        int n = (int) Math.max(0, count);
        ctx.charge(n);
        List<Object> items = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            items.add(start + i * step);
        }
        String repr = "range(" + start + ", " + stop + (step != 1 ? ", " + step : "") + ")";
        return ListValue.range(items, repr);
    }

    private static Object dict(RenderContext ctx, CallArgs a) {
        DictValue.Builder b = DictValue.builder();
        List<Object> positional = a.rest(0);
        if (positional.size() > 1) {
            throw TemplateError.render("dict expected at most 1 argument, got " + positional.size());
        }
        if (!positional.isEmpty()) {
            addPairs(b, positional.get(0));
        }
        a.keywordsCopy().forEach(b::put);
        a.consumeAll();
        ctx.checkCollectionSize(b.size());
        return b.build();
    }

    private static void addPairs(DictValue.Builder b, Object src) {
        if (src instanceof DictValue d) {
            d.asMap().forEach(b::put);
            return;
        }
        for (Object pair : Values.iterate(src)) {
            List<Object> kv = Values.iterate(pair);
            if (kv.size() != 2) {
                throw TemplateError.render("dictionary update sequence element has length " + kv.size() + "; 2 is required");
            }
            b.put(kv.get(0), kv.get(1));
        }
    }

    private static Object namespace(RenderContext ctx, CallArgs a) {
        NamespaceValue ns = new NamespaceValue();
        List<Object> positional = a.rest(0);
        if (positional.size() > 1) {
            throw TemplateError.render("namespace expected at most 1 positional argument, got " + positional.size());
        }
        if (!positional.isEmpty()) {
            DictValue.Builder b = DictValue.builder();
            addPairs(b, positional.get(0));
            for (var e : b.build().asMap().entrySet()) {
                if (!(e.getKey() instanceof String k)) {
                    throw TemplateError.render("namespace keywords must be strings");
                }
                ns.set(k, e.getValue(), ctx);
            }
        }
        a.keywordsCopy().forEach((k, v) -> ns.set(k, v, ctx));
        a.consumeAll();
        return ns;
    }

    /** jinja2's {@code cycler(...)}: {@code current}, {@code next()}, {@code reset()}. Belongs to one render. */
    static final class Cycler {
        private final List<Object> items;
        private int pos;

        Cycler(List<Object> items) {
            if (items.isEmpty()) {
                throw TemplateError.render("at least one item has to be provided");
            }
            this.items = items;
        }

        Object current() {
            return items.get(pos);
        }

        Object next() {
            Object v = items.get(pos);
            pos = (pos + 1) % items.size();
            return v;
        }

        Object reset() {
            pos = 0;
            return NoneValue.NONE;
        }
    }

    /** jinja2's {@code joiner(sep)}: "" on the first call, then the separator. Belongs to one render. */
    static final class Joiner implements TemplateCallable {
        private final Object sep;
        private boolean used;

        Joiner(Object sep) {
            this.sep = sep;
        }

        @Override
        public String describe() {
            return "<Joiner object>";
        }

        @Override
        public Object call(RenderContext ctx, CallArgs args) {
            args.done();
            if (!used) {
                used = true;
                return "";
            }
            return sep;
        }
    }
}
