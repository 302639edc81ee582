package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Python's arithmetic on template values: {@code + - * / // % **} and unary minus/plus over
 * ints (64-bit here: overflow is an error, where Python would grow a big int), floats, strings
 * and sequences. Every string or list an operator builds is checked against the limits before
 * it is built, so {@code 'a' * 10**9} fails instead of allocating. Stateless.
 */
final class Operators {
    private Operators() {
    }

    static Object binary(RenderContext ctx, Expr.BinOp op, Object a, Object b) {
        if (a instanceof Undefined u) {
            throw u.fail();
        }
        if (b instanceof Undefined u) {
            throw u.fail();
        }
        return switch (op) {
            case ADD -> add(ctx, a, b);
            case SUB -> arith(op, a, b);
            case MUL -> mul(ctx, a, b);
            case DIV -> {
                requireNumbers(op, a, b);
                double y = Values.asDouble(b);
                if (y == 0) {
                    throw TemplateError.render("division by zero");
                }
                yield Values.isInt(a) && Values.isInt(b) ? intTrueDivide(Values.asLong(a), Values.asLong(b)) : Values.asDouble(a) / y;
            }
            case FLOORDIV -> floorDiv(a, b);
            case MOD -> a instanceof String s ? PyFormat.percent(ctx, s, b) : mod(a, b);
            case POW -> pow(a, b);
        };
    }

    private static double intTrueDivide(long x, long y) {
        if (Math.abs(x) < (1L << 53) && Math.abs(y) < (1L << 53)) {
            return (double) x / (double) y;
        }
        return new java.math.BigDecimal(x).divide(new java.math.BigDecimal(y), java.math.MathContext.DECIMAL128).doubleValue();
    }

    private static TemplateError unsupported(String symbol, Object a, Object b) {
        return TemplateError.render("unsupported operand type(s) for " + symbol + ": '" + Values.typeName(a) + "' and '"
                + Values.typeName(b) + "'");
    }

    private static void requireNumbers(Expr.BinOp op, Object a, Object b) {
        if (!Values.isNumber(a) || !Values.isNumber(b)) {
            throw unsupported(op.symbol, a, b);
        }
    }

    private static TemplateError overflow(String what) {
        return TemplateError.render("integer overflow in " + what + " (integers are 64-bit here)");
    }

    private static Object add(RenderContext ctx, Object a, Object b) {
        if (a instanceof String x) {
            if (!(b instanceof String y)) {
                throw TemplateError.render("can only concatenate str (not \"" + Values.typeName(b) + "\") to str");
            }
            ctx.checkString((long) x.length() + y.length());
            ctx.chargeChars((long) x.length() + y.length());
            return x.concat(y);
        }
        if (a instanceof ListValue x && (x.kind == ListValue.Kind.LIST || x.kind == ListValue.Kind.TUPLE)) {
            if (!(b instanceof ListValue y) || y.kind != x.kind) {
                throw TemplateError.render("can only concatenate " + x.kind.pyName + " (not \"" + Values.typeName(b) + "\") to "
                        + x.kind.pyName);
            }
            long n = (long) x.size() + y.size();
            ctx.checkCollectionSize(n);
            ctx.charge(n);
            List<Object> out = new ArrayList<>((int) n);
            out.addAll(x.items());
            out.addAll(y.items());
            return x.sameKind(out);
        }
        return arith(Expr.BinOp.ADD, a, b);
    }

    /** + and - over numbers. */
    private static Object arith(Expr.BinOp op, Object a, Object b) {
        requireNumbers(op, a, b);
        if (Values.isInt(a) && Values.isInt(b)) {
            try {
                return op == Expr.BinOp.ADD ? Math.addExact(Values.asLong(a), Values.asLong(b))
                        : Math.subtractExact(Values.asLong(a), Values.asLong(b));
            } catch (ArithmeticException e) {
                throw overflow(op.symbol);
            }
        }
        double x = Values.asDouble(a);
        double y = Values.asDouble(b);
        return op == Expr.BinOp.ADD ? x + y : x - y;
    }

    private static Object mul(RenderContext ctx, Object a, Object b) {
        if (Values.isInt(b) && (a instanceof String || a instanceof ListValue)) {
            return repeat(ctx, a, Values.asLong(b));
        }
        if (Values.isInt(a) && (b instanceof String || b instanceof ListValue)) {
            return repeat(ctx, b, Values.asLong(a));
        }
        requireNumbers(Expr.BinOp.MUL, a, b);
        if (Values.isInt(a) && Values.isInt(b)) {
            try {
                return Math.multiplyExact(Values.asLong(a), Values.asLong(b));
            } catch (ArithmeticException e) {
                throw overflow("*");
            }
        }
        return Values.asDouble(a) * Values.asDouble(b);
    }

    private static Object repeat(RenderContext ctx, Object seq, long times) {
        long n = Math.max(0, times);
        if (seq instanceof String s) {
            long len = s.length() * n;
            if (n > 0 && len / n != s.length()) {
                len = Long.MAX_VALUE;
            }
            ctx.checkString(len);
            ctx.chargeChars(len);
            return s.repeat((int) n);
        }
        ListValue l = (ListValue) seq;
        if (l.kind != ListValue.Kind.LIST && l.kind != ListValue.Kind.TUPLE) {
            throw unsupported("*", seq, times);
        }
        long size = l.size() * n;
        if (n > 0 && size / n != l.size()) {
            size = Long.MAX_VALUE;
        }
        ctx.checkCollectionSize(size);
        ctx.charge(size);
        List<Object> out = new ArrayList<>((int) size);
        for (long i = 0; i < n; i++) {
            out.addAll(l.items());
        }
        return l.sameKind(out);
    }

    private static Object floorDiv(Object a, Object b) {
        requireNumbers(Expr.BinOp.FLOORDIV, a, b);
        if (Values.isInt(a) && Values.isInt(b)) {
            long y = Values.asLong(b);
            if (y == 0) {
                throw TemplateError.render("integer division or modulo by zero");
            }
            if (Values.asLong(a) == Long.MIN_VALUE && y == -1) {
                throw overflow("//");
            }
            return Math.floorDiv(Values.asLong(a), y);
        }
        double y = Values.asDouble(b);
        if (y == 0) {
            throw TemplateError.render("float floor division by zero");
        }
        return floatDivmod(Values.asDouble(a), y)[0];
    }

    private static Object mod(Object a, Object b) {
        requireNumbers(Expr.BinOp.MOD, a, b);
        if (Values.isInt(a) && Values.isInt(b)) {
            long y = Values.asLong(b);
            if (y == 0) {
                throw TemplateError.render("integer division or modulo by zero");
            }
            return y == -1 ? 0L : Math.floorMod(Values.asLong(a), y);
        }
        double y = Values.asDouble(b);
        if (y == 0) {
            throw TemplateError.render("float modulo");
        }
        return floatDivmod(Values.asDouble(a), y)[1];
    }

    /** CPython's float divmod: floor quotient and a remainder with the divisor's sign. */
    private static double[] floatDivmod(double vx, double wx) {
        double mod = vx % wx;
        double div = (vx - mod) / wx;
        if (mod != 0) {
            if ((wx < 0) != (mod < 0)) {
                mod += wx;
                div -= 1.0;
            }
        } else {
            mod = Math.copySign(0.0, wx);
        }
        double floordiv;
        if (div != 0) {
            floordiv = Math.floor(div);
            if (div - floordiv > 0.5) {
                floordiv += 1.0;
            }
        } else {
            floordiv = Math.copySign(0.0, vx / wx);
        }
        return new double[] {floordiv, mod};
    }

    private static Object pow(Object a, Object b) {
        requireNumbers(Expr.BinOp.POW, a, b);
        if (Values.isInt(a) && Values.isInt(b)) {
            long base = Values.asLong(a);
            long exp = Values.asLong(b);
            if (exp < 0) {
                if (base == 0) {
                    throw TemplateError.render("0.0 cannot be raised to a negative power");
                }
                return Math.pow(base, exp);
            }
            long result = 1;
            long x = base;
            try {
                while (exp > 0) {
                    if ((exp & 1) == 1) {
                        result = Math.multiplyExact(result, x);
                    }
                    exp >>= 1;
                    if (exp > 0) {
                        x = Math.multiplyExact(x, x);
                    }
                }
            } catch (ArithmeticException e) {
                throw overflow("**");
            }
            return result;
        }
        double x = Values.asDouble(a);
        double y = Values.asDouble(b);
        if (x == 0 && y < 0) {
            throw TemplateError.render("0.0 cannot be raised to a negative power");
        }
        if (x < 0 && y != Math.rint(y)) {
            throw TemplateError.render("a negative number raised to a fractional power is complex (not supported)");
        }
        double r = Math.pow(x, y);
        if (Double.isInfinite(r) && !Double.isInfinite(x) && !Double.isInfinite(y)) {
            throw TemplateError.render("numerical result out of range");
        }
        return r;
    }

    static Object neg(Object v) {
        if (v instanceof Undefined u) {
            throw u.fail();
        }
        if (v instanceof Double d) {
            return -d;
        }
        if (Values.isInt(v)) {
            try {
                return Math.negateExact(Values.asLong(v));
            } catch (ArithmeticException e) {
                throw overflow("unary -");
            }
        }
        throw TemplateError.render("bad operand type for unary -: '" + Values.typeName(v) + "'");
    }

    static Object pos(Object v) {
        if (v instanceof Undefined u) {
            throw u.fail();
        }
        if (v instanceof Boolean b) {
            return b ? 1L : 0L;
        }
        if (Values.isNumber(v)) {
            return v;
        }
        throw TemplateError.render("bad operand type for unary +: '" + Values.typeName(v) + "'");
    }
}
