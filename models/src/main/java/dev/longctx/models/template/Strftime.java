package dev.longctx.models.template;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.time.temporal.IsoFields;
import java.util.Locale;

/**
 * C's {@code strftime} in the C locale, for transformers' {@code strftime_now(format)}: the
 * usual conversions ({@code %Y %m %d %H %M %S %b %B %a %A %j %p %y %e %I ...}) and glibc's
 * {@code -} flag for no padding ({@code %-d}). Unknown conversions are kept as written. Stateless.
 */
final class Strftime {
    private Strftime() {
    }

    static String format(String fmt, LocalDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 >= fmt.length()) {
                sb.append(c);
                continue;
            }
            int start = i;
            char flag = 0;
            char k = fmt.charAt(++i);
            if ((k == '-' || k == '_' || k == '0') && i + 1 < fmt.length()) {
                flag = k;
                k = fmt.charAt(++i);
            }
            String v = conversion(k, t, flag);
            sb.append(v != null ? v : fmt.substring(start, i + 1));
        }
        return sb.toString();
    }

    private static String num(long v, int width, char flag, char defaultPad) {
        String s = Long.toString(v);
        char pad = flag == '-' ? 0 : flag == '_' ? ' ' : flag == '0' ? '0' : defaultPad;
        if (pad == 0 || s.length() >= width) {
            return s;
        }
        return String.valueOf(pad).repeat(width - s.length()) + s;
    }

    private static String conversion(char k, LocalDateTime t, char flag) {
        int hour12 = t.getHour() % 12 == 0 ? 12 : t.getHour() % 12;
        return switch (k) {
            case 'Y' -> Long.toString(t.getYear());
            case 'C' -> num(t.getYear() / 100, 2, flag, '0');
            case 'y' -> num(t.getYear() % 100, 2, flag, '0');
            case 'G' -> Long.toString(t.get(IsoFields.WEEK_BASED_YEAR));
            case 'g' -> num(t.get(IsoFields.WEEK_BASED_YEAR) % 100, 2, flag, '0');
            case 'm' -> num(t.getMonthValue(), 2, flag, '0');
            case 'd' -> num(t.getDayOfMonth(), 2, flag, '0');
            case 'e' -> num(t.getDayOfMonth(), 2, flag, ' ');
            case 'j' -> num(t.getDayOfYear(), 3, flag, '0');
            case 'H' -> num(t.getHour(), 2, flag, '0');
            case 'k' -> num(t.getHour(), 2, flag, ' ');
            case 'I' -> num(hour12, 2, flag, '0');
            case 'l' -> num(hour12, 2, flag, ' ');
            case 'M' -> num(t.getMinute(), 2, flag, '0');
            case 'S' -> num(t.getSecond(), 2, flag, '0');
            case 'f' -> num(t.getNano() / 1000, 6, flag, '0');
            case 'p' -> t.getHour() < 12 ? "AM" : "PM";
            case 'P' -> t.getHour() < 12 ? "am" : "pm";
            case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US);
            case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US);
            case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US);
            case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.US);
            case 'u' -> Long.toString(t.getDayOfWeek().getValue());
            case 'w' -> Long.toString(t.getDayOfWeek().getValue() % 7);
            case 'U' -> num((t.getDayOfYear() + 6 - t.getDayOfWeek().getValue() % 7) / 7, 2, flag, '0');
            case 'W' -> num((t.getDayOfYear() + 6 - (t.getDayOfWeek().getValue() + 6) % 7) / 7, 2, flag, '0');
            case 'V' -> num(t.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR), 2, flag, '0');
            case 'D', 'x' -> conversion('m', t, flag) + "/" + conversion('d', t, flag) + "/" + conversion('y', t, flag);
            case 'F' -> t.getYear() + "-" + conversion('m', t, (char) 0) + "-" + conversion('d', t, (char) 0);
            case 'T', 'X' -> conversion('H', t, (char) 0) + ":" + conversion('M', t, (char) 0) + ":" + conversion('S', t, (char) 0);
            case 'R' -> conversion('H', t, (char) 0) + ":" + conversion('M', t, (char) 0);
            case 'r' -> conversion('I', t, (char) 0) + ":" + conversion('M', t, (char) 0) + ":" + conversion('S', t, (char) 0) + " "
                    + conversion('p', t, (char) 0);
            case 'c' -> conversion('a', t, (char) 0) + " " + conversion('b', t, (char) 0) + " " + conversion('e', t, (char) 0) + " "
                    + conversion('T', t, (char) 0) + " " + t.getYear();
            case 'n' -> "\n";
            case 't' -> "\t";
            case 'z', 'Z' -> "";
            case '%' -> "%";
            default -> null;
        };
    }
}
