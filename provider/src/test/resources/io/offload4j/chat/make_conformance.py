"""Regenerates jinja2-conformance.json: small templates rendered by Python's Jinja2 configured as Hugging Face
transformers configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, HF's tojson,
raise_exception, strftime_now at 2026-11-25 12:00:00). The Java tests render the same templates and compare.

    python3 make_conformance.py > jinja2-conformance.json
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime(2026, 11, 25, 12, 0, 0).strftime(fmt)


class AssistantTracker(Extension):
    """HF's {% generation %} block (marks assistant tokens); renders its body unchanged."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[AssistantTracker, loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

MSGS = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "u1"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "u2"},
]
D = {"a": 1, "b": "two", "c": [1, 2]}
X = {"b": [1, 2.5, True, None], "a": {"c": "ü\"\\\n\t<>&'"}, "e": [], "f": {}, "g": 1e16, "h": 0.1}

CASES = {
    # whitespace control, trim_blocks, lstrip_blocks
    "ws_inline_tag": ("Hello {% if true %}yes{% endif %}\n", {}),
    "ws_lstrip_line": ("  {% if true %}\n  x\n  {% endif %}\nend", {}),
    "ws_minus": ("a  {%- if true -%}  b  {%- endif -%}  c", {}),
    "ws_comments": ("{# comment #}\nline\n  {#- c2 -#}  z\n    {# c3 #}\nw", {}),
    "ws_raw": ("{% raw %}{{ not evaluated }} {% if %}{# x #}{% endraw %}!", {}),
    "ws_raw_lines": ("a\n  {% raw %}\n  {{ x }}\n  {% endraw %}\nb", {}),
    "ws_plus": ("x  {%+ if true %}y{% endif +%}\nz", {}),
    "ws_variables_keep": ("{{ 'a' }}\n{{ 'b' }}\n  {{ 'c' }}\n", {}),
    "ws_crlf": ("line1\r\nline2\r\n{% if true %}\r\nz{% endif %}\r\n", {}),
    "ws_two_trailing_newlines": ("x\n\n", {}),
    "ws_brace_before_tag": ("{ {%- if true %}x{% endif %}", {}),
    "ws_text_after_tag_same_line": ("{% if true %}  a{% endif %}  {% if true %}b{% endif %}", {}),
    "ws_nested_blocks": ("<ul>\n{% for i in [1, 2] %}\n    <li>{{ i }}</li>\n{% endfor %}\n</ul>", {}),
    "ws_tabs": ("\t{% if true %}\n\tx\n\t{% endif %}\n", {}),
    "lex_nested_dict": ("{{ {'a': {'b': 1}} }}|{{ {'a': {'b': 1}}['a'] }}", {}),
    "lex_delims_in_strings": ("{{ '}}' }} and {{ \"%}\" }} and {% if '%}' %}ok{% endif %}", {}),
    "lex_escapes": ("{{ 'a\\tb\\n' }}|{{ '\\u00e9\\x41' }}|{{ 'back\\\\slash' }}|{{ \"q\\\"q\" }}|{{ '\\d' }}", {}),
    "lex_multiline_set": ("{%- set m = {\n  'a': 1,\n  'b': 2\n} %}{{ m.b }}", {}),
    # printing values
    "print_values": ("{{ true }} {{ false }} {{ 1.0 }} {{ 1.5e20 }} {{ 3 }} {{ [1, 'a', true, 2.5] }} "
                     "{{ {'k': 'v', 'n': 1} }} {{ \"it's\" }} {{ ['it\\'s'] }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 100000.0 }}", {}),
    "print_arith": ("{{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ 2 ** 10 }} {{ 7 % 3 }} {{ -3 }} {{ 10 - 2.5 }}", {}),
    "print_undefined": ("[{{ undefined_var }}][{{ d.missing }}][{{ d.missing is defined }}]", {"d": D}),
    # truthiness
    "truthiness": ("{% if 'false' %}T{% else %}F{% endif %}{% if not '' %}E{% endif %}{% if [] %}L{% endif %}"
                   "{% if {} %}D{% endif %}{% if 0 %}Z{% endif %}{% if 0.0 %}Z{% endif %}{% if 'False' and 1 %}A{% endif %}"
                   "{% if none or [0] %}O{% endif %}", {}),
    # loops
    "loop_vars": ("{% for x in items %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/"
                  "{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %}",
                  {"items": ["a", "b", "c"]}),
    "loop_break_continue": ("{% for x in [1,2,3,4,5] %}{% if x == 2 %}{% continue %}{% endif %}"
                            "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    "loop_continue_skips_rest_of_if": ("{% for x in [1,2,3] %}{% if x == 2 %}{% continue %}skipped{% endif %}{{ x }}{% endfor %}", {}),
    "loop_filter": ("{% for k, v in d.items() if k != 'b' %}{{ k }}={{ v }},{% endfor %}|"
                    "{% for x in [1,2,3,4] if x is even %}{{ loop.index }}:{{ x }}{% if loop.last %}!{% endif %} {% endfor %}", {"d": D}),
    "loop_dict_keys": ("{% for k in d %}{{ k }}{% endfor %}", {"d": D}),
    "loop_string": ("{% for c in 'abc' %}{{ c }}-{% endfor %}", {}),
    "loop_else": ("{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] %}{{ x }}{% else %}no{% endfor %}", {}),
    "loop_cycle_changed": ("{% for x in [1,1,2,2,3] %}{{ loop.cycle('o', 'e') }}{% if loop.changed(x) %}*{% endif %} {% endfor %}", {}),
    "loop_nested": ("{% for a in [1,2] %}{% for b in [3,4] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    "loop_unpack_pairs": ("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}", {}),
    "scope_set_in_loop": ("{% set x = 1 %}{% for i in [1,2] %}{% set x = i %}{{ x }}{% endfor %}{{ x }}", {}),
    "namespace": ("{% set ns = namespace(c=0, s='') %}{% for i in [1,2,3] %}{% set ns.c = ns.c + i %}"
                  "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.c }} {{ ns.s }}", {}),
    # str methods, slicing, membership
    "str_methods": ("{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|"
                    "{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a</think>b</think>'.split('</think>')[-1] }}|"
                    "{{ 'Hello'.startswith('He') }}|{{ 'Hello'.endswith('lo') }}|{{ 'hello wORLD it\\'s'.title() }}|"
                    "{{ 'hELLO'.capitalize() }}|{{ 'ab'.upper() }}|{{ 'AB'.lower() }}|{{ 'aaa'.replace('a', 'b', 2) }}|"
                    "{{ 'abc'.find('c') }}|{{ 'a-b-c'.count('-') }}|{{ '-'.join(['a', 'b']) }}|{{ 'a b c'.split(' ', 1) }}|"
                    "{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ 'x'.startswith(('a', 'x')) }}|{{ 'Hi {}!'.format('you') }}", {}),
    "slicing": ("{{ 'hello'[1:] }}|{{ 'hello'[:-1] }}|{{ [1,2,3][1:] }}|{{ [1,2,3][-1] }}|{{ 'hello'[-1] }}|{{ msgs[1:] | length }}", {"msgs": MSGS}),
    "slices_python": ("{{ [1,2,3,4][::-1] }}|{{ 'abcdef'[::2] }}|{{ 'abc'[::-1] }}|{{ [1,2,3][-5:10] }}|{{ 'abc'[-10:] }}|"
                      "{{ [1,2,3,4,5][4:1:-2] }}|{{ 'hello'[10:] }}|{% for m in msgs[::-1] %}{{ m.content }}{% endfor %}", {"msgs": MSGS}),
    "keyword_arguments": ("{% set ns = namespace(last=msgs|length - 1, flag=not false) %}{{ ns.last }} {{ ns.flag }}|"
                          "{{ x | tojson(indent=1 + 1) }}", {"msgs": MSGS, "x": [1]}),
    "chained_filters_tests": ("{{ msgs|length is even }}|{{ 'abc'|upper is string }}|{{ [1, 2]|first is odd }}", {"msgs": MSGS}),
    "membership": ("{{ 'a' in 'cat' }}|{{ 'k' in {'k': 1} }}|{{ 2 in [1, 2] }}|{{ 'x' not in ['y'] }}|{{ 'tool_calls' in msgs[0] }}", {"msgs": MSGS}),
    "dict_methods": ("{{ d.get('a') }}|{{ d.get('zz', 'dflt') }}|{{ d.keys() | list }}|{{ d.values() | list }}|"
                     "{{ d['a'] }}|{{ d.b }}|{{ d.c[1] }}", {"d": D}),
    # filters
    "tojson": ("{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ x | tojson(sort_keys=true) }}|"
               "{{ x | tojson(ensure_ascii=true) }}|{{ [1, [2, {}]] | tojson(indent=4) }}|{{ x.b | tojson(separators=(',', ':')) }}", {"x": X}),
    "filters_basic": ("{{ [3,1,2] | length }}|{{ 'héllo😀' | length }}|{{ '  x ' | trim }}|{{ [1,2] | first }}|{{ [1,2] | last }}|"
                      "{{ 'abc' | list }}|{{ [1, 'a', none] | join(', ') }}|{{ 42 | string }}|{{ undefined_var | default('dflt') }}|"
                      "{{ '' | default('e', true) }}|{{ 'hello world' | title }}|{{ 'ab' | upper }}|{{ 'aXb' | replace('X', '-') }}|"
                      "{{ msgs | count }}|{{ 'x' | capitalize }}|{{ [1, 2] | string }}|{{ 'xyx' | trim('x') }}", {"msgs": MSGS}),
    "filters_select": ("{{ msgs | selectattr('role', 'equalto', 'user') | list | length }}|"
                       "{{ msgs | rejectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|"
                       "{{ msgs | map(attribute='role') | list }}|{{ [0, 1, '', 'a', none] | select | list }}|"
                       "{{ [1, 2, 3, 4] | reject('odd') | list }}|{{ msgs | selectattr('missing') | list }}|"
                       "{{ ['a', 'b'] | map('upper') | join }}", {"msgs": MSGS}),
    "filter_items": ("{% for k, v in d | items %}{{ k }}:{{ v }} {% endfor %}", {"d": D}),
    # tests
    "tests": ("{{ 'a' is string }}|{{ 'a' is iterable }}|{{ [1] is iterable }}|{{ {'a':1} is mapping }}|{{ [1] is mapping }}|"
              "{{ 1 is number }}|{{ 1 is integer }}|{{ 1.5 is float }}|{{ undefinedv is defined }}|{{ none is none }}|"
              "{{ 3 is odd }}|{{ 4 is even }}|{{ 'a' is sequence }}|{{ true is boolean }}|{{ 1 is string }}|"
              "{{ 'a' is not none }}|{{ undefinedv is undefined }}|{{ 'a' is in 'abc' }}|{{ 1 is sameas 1 }}|{{ 2 is eq 2.0 }}", {}),
    # precedence
    "precedence": ("{{ not [1,2]|length == 1 }}|{{ not undefinedv is defined }}|{{ 'a' + 'b' | upper }}|{{ 1 + 2 * 3 }}|"
                   "{{ (1 + 2) * 3 }}|{{ 'x' ~ 1 ~ true }}|{{ not true and false }}|{{ not (true and false) }}|"
                   "{{ 'b' if 1 > 2 else 'c' }}|{{ 'y' if false }}|{{ 'n' ~ [1] ~ 2.0 }}", {}),
    # macros
    "macro": ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}"
              "{{ greet('x') | upper }}", {}),
    "macro_recursive": ("{%- macro t(s) %}{%- if s.type == 'array' %}{{- 'list[' + t(s['items']) + ']' }}"
                        "{%- elif s.type is string %}{{- s.type }}{%- else %}{{- 'Union[' }}{%- for x in s.type %}{{- x }}"
                        "{%- if not loop.last %},{% endif %}{%- endfor %}]{%- endif %}{%- endmacro %}"
                        "{{ t({'type': 'array', 'items': {'type': 'array', 'items': {'type': ['string', 'null']}}}) }}", {}),
    "set_block": ("{% set x %}inner {{ 1 }}{% endset %}[{{ x }}]", {}),
    "unicode": ("{{ 'ß' | upper }}|{{ 'ÉCOLE' | lower }}|{{ '日本語'[1] }}|{{ '😀a' | length }}|{{ '😀a'[0] }}", {}),
    # globals
    "strftime_now": ("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %p %I %a %y %m') }}|"
                     "{{ strftime_now is defined }}|{{ raise_exception is defined }}", {}),
    "raise": ("before{{ raise_exception('bad input: ' ~ n) }}after", {"n": 3}),
    "raise_in_loop_macro": ("{% macro m(x) %}{% if x > 1 %}{{ raise_exception('too big: ' ~ x) }}{% endif %}{{ x }}{% endmacro %}"
                            "{% for i in [1, 2, 3] %}{{ m(i) }}{% endfor %}", {}),
    "generation_block": ("{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}[{{ m.content }}]"
                         "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}", {"msgs": MSGS}),
    "none_hides_outer": ("{% set x = 'outer' %}{% for i in [1, 2] %}{% set x = none if i == 2 else 'in' %}"
                         "[{{ x is none }}]{% endfor %}{% macro m(x) %}{{ x is none }}{% endmacro %}{{ m(none) }}", {}),
    "python_operators": ("{{ 'ab' * 2 }}|{{ [1] * 3 }}|{{ [1] + [2] }}|{{ '1' == 1 }}|{{ 1 == 1.0 }}|{{ 'a' != 'b' }}|"
                         "{{ 'x' 'y' }}", {}),
    "operators_more": ("{{ none or 'x' }}|{{ 'a' and 'b' }}|{{ 0 or [] }}|{{ -7 % 3 }}|{{ -7.5 % 2 }}|{{ -7 // 2 }}|"
                       "{{ 'b' > 'a' }}|{{ 2 ** 0.5 }}|{{ 10 / 4 }}|{{ 'A' | lower == 'a' }}", {}),
    "filters_more": ("{{ [1,2] | sum }}|{{ [1.5, 2] | sum }}|{{ {'b':1,'a':2} | dictsort }}|{{ [3,1,2] | sort }}|"
                     "{{ 'a b' | wordcount }}|{{ 3.7 | int }}|{{ '4' | int + 1 }}|{{ 2.5 | round }}|{{ 2.675 | round(2) }}|"
                     "{{ [1,2,2] | unique | list }}|{{ 'abc' | reverse }}|{{ [1,2,3] | reverse | list }}|{{ 'x' | center(5) }}|"
                     "{{ '%s-%d' | format('a', 3) }}|{{ range(3) | list }}|{{ 12345.678 | round(1) }}|{{ [1, 2] | min }}|"
                     "{{ ['b', 'A'] | max }}|{{ {'a': 1}.items() | list }}", {}),
    "type_error_concat": ("{{ 'a' + n }}", {"n": None}),
    "type_error_method_on_none": ("{{ n.strip() }}", {"n": None}),
    "unknown_filter_in_if_branch": ("{% if false %}{{ x | nope }}{% endif %}ok", {}),
    # user content is data, never template code
    "content_is_data": ("{{ msgs[0].content }}", {"msgs": [{"role": "user", "content": "{{ 7 * 7 }} {% if true %}x{% endif %}"}]}),
}


def main():
    out = []
    for name, (source, variables) in CASES.items():
        entry = {"name": name, "template": source, "variables": variables}
        try:
            entry["expected"] = env.from_string(source).render(**variables)
        except (jinja2.exceptions.UndefinedError, TypeError) as e:
            entry["error"] = str(e)
            entry["error_kind"] = "RENDER"
        except jinja2.exceptions.TemplateError as e:  # raise_exception(...)
            entry["error"] = str(e)
            entry["error_kind"] = "RAISED"
        out.append(entry)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
