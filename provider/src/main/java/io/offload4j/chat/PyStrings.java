package io.offload4j.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Python {@code str} methods as templates call them ({@code s.strip()}, {@code s.split('x')}, ...). */
final class PyStrings {

    private PyStrings() {}

    static void arity(String method, List<Object> args, int min, int max) {
        if (args.size() < min || args.size() > max) {
            throw new TemplateRuntimeError(method + "() takes " + (min == max ? "exactly " + min
                    : "from " + min + " to " + max) + " argument(s) (" + args.size() + " given)");
        }
    }

    private static String strArg(String method, Object o) {
        if (!Py.isString(o)) {
            throw new TemplateRuntimeError(method + "() argument must be str, not " + Py.typeName(o));
        }
        return o.toString();
    }

    private static String optChars(String method, List<Object> args) {
        arity(method, args, 0, 1);
        return args.isEmpty() || args.get(0) == null ? null : strArg(method, args.get(0));
    }

    private static int intArg(Object o, int dflt) {
        if (o == null) {
            return dflt;
        }
        if (!(o instanceof Number n)) {
            throw new TemplateRuntimeError("an integer is required, not " + Py.typeName(o));
        }
        return n.intValue();
    }

    static Object call(String s, String name, List<Object> args) {
        switch (name) {
            case "strip":
                return Py.strip(s, optChars(name, args), true, true);
            case "lstrip":
                return Py.strip(s, optChars(name, args), true, false);
            case "rstrip":
                return Py.strip(s, optChars(name, args), false, true);
            case "split":
                arity(name, args, 0, 2);
                return split(s, args.isEmpty() || args.get(0) == null ? null : strArg(name, args.get(0)),
                        args.size() > 1 ? intArg(args.get(1), -1) : -1);
            case "rsplit":
                arity(name, args, 0, 2);
                return rsplit(s, args.isEmpty() || args.get(0) == null ? null : strArg(name, args.get(0)),
                        args.size() > 1 ? intArg(args.get(1), -1) : -1);
            case "splitlines":
                return splitlines(s);
            case "startswith":
            case "endswith": {
                arity(name, args, 1, 3);
                String sub = slice(s, args);
                Object p = args.get(0);
                List<Object> options = p instanceof List<?> l ? new ArrayList<>(l) : List.of(p);
                for (Object o : options) {
                    String x = strArg(name, o);
                    if (name.equals("startswith") ? sub.startsWith(x) : sub.endsWith(x)) {
                        return true;
                    }
                }
                return false;
            }
            case "upper":
                return s.toUpperCase(Locale.ROOT);
            case "lower":
                return s.toLowerCase(Locale.ROOT);
            case "casefold":
                return s.toUpperCase(Locale.ROOT).toLowerCase(Locale.ROOT);
            case "swapcase": {
                StringBuilder sb = new StringBuilder();
                s.codePoints().forEach(cp -> sb.appendCodePoint(Character.isUpperCase(cp)
                        ? Character.toLowerCase(cp) : Character.isLowerCase(cp) ? Character.toUpperCase(cp) : cp));
                return sb.toString();
            }
            case "title":
                return title(s);
            case "capitalize":
                return capitalize(s);
            case "replace": {
                arity(name, args, 2, 3);
                return replace(s, strArg(name, args.get(0)), strArg(name, args.get(1)),
                        args.size() > 2 ? intArg(args.get(2), -1) : -1);
            }
            case "find":
            case "index": {
                arity(name, args, 1, 3);
                int start = args.size() > 1 ? norm(intArg(args.get(1), 0), s.length()) : 0;
                String sub = slice(s, args);
                int i = sub.indexOf(strArg(name, args.get(0)));
                if (i < 0 && name.equals("index")) {
                    throw new TemplateRuntimeError("substring not found");
                }
                return (long) (i < 0 ? -1 : i + start);
            }
            case "rfind":
            case "rindex": {
                arity(name, args, 1, 3);
                int start = args.size() > 1 ? norm(intArg(args.get(1), 0), s.length()) : 0;
                String sub = slice(s, args);
                int i = sub.lastIndexOf(strArg(name, args.get(0)));
                if (i < 0 && name.equals("rindex")) {
                    throw new TemplateRuntimeError("substring not found");
                }
                return (long) (i < 0 ? -1 : i + start);
            }
            case "count": {
                arity(name, args, 1, 3);
                String sub = slice(s, args);
                String x = strArg(name, args.get(0));
                if (x.isEmpty()) {
                    return (long) sub.codePointCount(0, sub.length()) + 1;
                }
                long n = 0;
                for (int i = sub.indexOf(x); i >= 0; i = sub.indexOf(x, i + x.length())) {
                    n++;
                }
                return n;
            }
            case "join": {
                arity(name, args, 1, 1);
                StringBuilder sb = new StringBuilder();
                boolean first = true;
                for (Object o : Py.iterate(args.get(0))) {
                    if (!Py.isString(o)) {
                        throw new TemplateRuntimeError("sequence item: expected str instance, " + Py.typeName(o)
                                + " found");
                    }
                    if (!first) {
                        sb.append(s);
                    }
                    first = false;
                    sb.append(o);
                }
                return sb.toString();
            }
            case "removeprefix":
                arity(name, args, 1, 1);
                return s.startsWith(strArg(name, args.get(0))) ? s.substring(args.get(0).toString().length()) : s;
            case "removesuffix":
                arity(name, args, 1, 1);
                return s.endsWith(strArg(name, args.get(0)))
                        ? s.substring(0, s.length() - args.get(0).toString().length()) : s;
            case "partition":
            case "rpartition": {
                arity(name, args, 1, 1);
                String sep = strArg(name, args.get(0));
                int i = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
                List<Object> out = new ArrayList<>();
                if (i < 0) {
                    if (name.equals("partition")) {
                        out.add(s);
                        out.add("");
                        out.add("");
                    } else {
                        out.add("");
                        out.add("");
                        out.add(s);
                    }
                } else {
                    out.add(s.substring(0, i));
                    out.add(sep);
                    out.add(s.substring(i + sep.length()));
                }
                return out;
            }
            case "isdigit":
            case "isdecimal":
            case "isnumeric":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isspace":
                return !s.isEmpty() && s.codePoints().allMatch(Py::isSpace);
            case "isupper":
                return s.codePoints().anyMatch(Character::isUpperCase)
                        && s.codePoints().noneMatch(Character::isLowerCase);
            case "islower":
                return s.codePoints().anyMatch(Character::isLowerCase)
                        && s.codePoints().noneMatch(Character::isUpperCase);
            case "center":
            case "ljust":
            case "rjust": {
                arity(name, args, 1, 2);
                int width = intArg(args.get(0), 0);
                String fill = args.size() > 1 ? strArg(name, args.get(1)) : " ";
                int len = s.codePointCount(0, s.length());
                if (width <= len) {
                    return s;
                }
                int pad = width - len;
                int left = switch (name) {
                    case "ljust" -> 0;
                    case "rjust" -> pad;
                    default -> pad / 2 + (pad & width & 1);
                };
                return fill.repeat(left) + s + fill.repeat(pad - left);
            }
            case "zfill": {
                arity(name, args, 1, 1);
                int width = intArg(args.get(0), 0);
                int len = s.codePointCount(0, s.length());
                if (width <= len) {
                    return s;
                }
                boolean sign = !s.isEmpty() && (s.charAt(0) == '-' || s.charAt(0) == '+');
                return sign ? s.charAt(0) + "0".repeat(width - len) + s.substring(1) : "0".repeat(width - len) + s;
            }
            case "format":
                return format(s, args);
            default:
                throw PyResolver.noAttribute("str", name);
        }
    }

    private static int norm(int i, int len) {
        return i < 0 ? Math.max(0, i + len) : Math.min(i, len);
    }

    /** s[start:end] for the optional start/end arguments that follow the first. */
    private static String slice(String s, List<Object> args) {
        int start = args.size() > 1 ? norm(intArg(args.get(1), 0), s.length()) : 0;
        int end = args.size() > 2 && args.get(2) != null ? norm(intArg(args.get(2), s.length()), s.length())
                : s.length();
        return start >= end ? "" : s.substring(start, end);
    }

    static List<Object> split(String s, String sep, int maxsplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && Py.isSpace(s.codePointAt(i))) {
                    i += Character.charCount(s.codePointAt(i));
                }
                if (i >= n) {
                    break;
                }
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(Py.strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !Py.isSpace(s.codePointAt(j))) {
                    j += Character.charCount(s.codePointAt(j));
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new TemplateRuntimeError("empty separator");
        }
        int from = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int i = s.indexOf(sep, from);
            if (i < 0) {
                break;
            }
            out.add(s.substring(from, i));
            from = i + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static List<Object> rsplit(String s, String sep, int maxsplit) {
        if (maxsplit < 0) {
            return split(s, sep, -1);
        }
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            String rest = Py.strip(s, null, false, true);
            while (out.size() < maxsplit) {
                int j = rest.length();
                int i = j;
                while (i > 0 && !Py.isSpace(rest.codePointBefore(i))) {
                    i -= Character.charCount(rest.codePointBefore(i));
                }
                if (i == 0) {
                    break;
                }
                out.add(0, rest.substring(i, j));
                rest = Py.strip(rest.substring(0, i), null, false, true);
            }
            if (!rest.isEmpty()) {
                out.add(0, rest);
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new TemplateRuntimeError("empty separator");
        }
        int to = s.length();
        while (out.size() < maxsplit) {
            int i = s.lastIndexOf(sep, to - sep.length());
            if (i < 0) {
                break;
            }
            out.add(0, s.substring(i + sep.length(), to));
            to = i;
        }
        out.add(0, s.substring(0, to));
        return out;
    }

    private static List<Object> splitlines(String s) {
        List<Object> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean eol = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e
                    || c == 0x85 || c == 0x2028 || c == 0x2029;
            if (eol) {
                out.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out;
    }

    /** {@code str.title()}: first letter of every run of letters upper (title) case, the rest lower case. */
    static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
            if (cased) {
                sb.appendCodePoint(previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
            } else {
                sb.appendCodePoint(cp);
            }
            previousCased = cased;
        }
        return sb.toString();
    }

    static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int first = s.codePointAt(0);
        return new StringBuilder().appendCodePoint(Character.toTitleCase(first))
                .append(s.substring(Character.charCount(first)).toLowerCase(Locale.ROOT)).toString();
    }

    static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            if (old.isEmpty()) {
                StringBuilder sb = new StringBuilder(replacement);
                s.codePoints().forEach(cp -> sb.appendCodePoint(cp).append(replacement));
                return sb.toString();
            }
            return s.replace(old, replacement);
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        int done = 0;
        while (done < count) {
            int i = old.isEmpty() ? (from <= s.length() ? from : -1) : s.indexOf(old, from);
            if (i < 0) {
                break;
            }
            sb.append(s, from, i).append(replacement);
            if (old.isEmpty()) {
                if (i < s.length()) {
                    int cp = s.codePointAt(i);
                    sb.appendCodePoint(cp);
                    from = i + Character.charCount(cp);
                } else {
                    from = i + 1;
                }
            } else {
                from = i + old.length();
            }
            done++;
        }
        if (from <= s.length()) {
            sb.append(s.substring(Math.min(from, s.length())));
        }
        return sb.toString();
    }

    /** {@code str.format} for plain {@code {}}, {@code {0}} and {@code {name}} fields (no format specs). */
    private static String format(String s, List<Object> args) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
                sb.append('{');
                i++;
            } else if (c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
                sb.append('}');
                i++;
            } else if (c == '{') {
                int end = s.indexOf('}', i);
                if (end < 0) {
                    throw new TemplateRuntimeError("Single '{' encountered in format string");
                }
                String field = s.substring(i + 1, end);
                int idx = field.isEmpty() ? auto++ : field.matches("\\d+") ? Integer.parseInt(field) : -1;
                if (idx < 0 || idx >= args.size()) {
                    throw new TemplateRuntimeError("format(): unsupported or missing field '{" + field + "}'");
                }
                sb.append(Py.str(args.get(idx)));
                i = end;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
