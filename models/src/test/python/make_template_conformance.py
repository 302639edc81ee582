"""Makes models/src/test/resources/fixtures/template-conformance.json: templates we wrote ourselves
(in the styles of real chat templates, Llama-3.1-like, ChatML/Qwen-like, Mistral-like, Gemma-like,
Phi-3-like, DeepSeek-like, plus one micro-template per feature: filters, tests, loop variables,
slicing, whitespace control, trim_blocks/lstrip_blocks edge cases, tojson, macros, loop controls,
errors) rendered by jinja2 configured as transformers configures it for apply_chat_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols,
a generation tag]), with raise_exception, strftime_now (at a fixed time, 2024-07-26 13:05:09) and
transformers' tojson (json.dumps with ensure_ascii=False, key order kept). Each case records the
output, or the error (its type, message, and whether raise_exception raised it).

Usage: python3 make_template_conformance.py <out.json>
"""
import datetime
import json
import sys

import jinja2
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime.datetime(2024, 7, 26, 13, 5, 9)


class Raised(TemplateError):
    """What raise_exception raises (transformers raises TemplateError(message))."""


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' own tojson: no HTML escaping, keys in their order
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


class Generation(Extension):
    """transformers' {% generation %} tag: renders its body (as a call block, so in its own scope)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, Generation])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

# ---- contexts ----
HELLO = {"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": True,
         "bos_token": "<s>", "eos_token": "</s>"}
SYS_CHAT = {"messages": [{"role": "system", "content": "  You are terse.  "}, {"role": "user", "content": "What is 2+2?"},
                         {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?\nThanks."}],
            "add_generation_prompt": False, "bos_token": "<s>", "eos_token": "</s>"}
UNICODE_CHAT = {"messages": [{"role": "user", "content": "Ünïcödé 🙂 <tags> & \"quotes\" 'single' \\ back\tslash\u200b"},
                             {"role": "assistant", "content": "Sure — 好的. </s>"}, {"role": "user", "content": "Again"}],
                "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"}
BAD_ROLES = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
             "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. \"Paris\""},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7.5, "default": None}},
        "required": ["city"]}}}
TOOL_CHAT = {"messages": [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
    {"role": "tool", "name": "get_weather", "content": "{\"temp\": 21.5}"},
    {"role": "tool", "name": "get_weather", "content": "second"},
    {"role": "assistant", "content": "It is 21.5 °C."}],
    "tools": [WEATHER_TOOL], "add_generation_prompt": True, "bos_token": "<|begin|>", "eos_token": "<|end|>",
    "date_string": "01 Jan 2025"}
THINK_CHAT = {"messages": [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello there"},
    {"role": "user", "content": "Bye"}], "add_generation_prompt": True, "bos_token": "<|bos|>", "eos_token": "<|eos|>"}
CHATS = {"hello": HELLO, "system": SYS_CHAT, "unicode": UNICODE_CHAT, "bad_roles": BAD_ROLES, "tools": TOOL_CHAT,
         "think": THINK_CHAT}

# ---- model-like templates (written for this fixture) ----
MODEL_TEMPLATES = {
    "llama31_like": """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = strftime_now("%d %b %Y") %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- Pull the system message out of the list #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{%- if tools_in_user_message and not tools is none %}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
    {%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, respond with a JSON function call.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
""",
    "chatml_tools_like": """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
""",
    "mistral_like": """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
""",
    "gemma_like": """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
""",
    "phi3_like": """{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'user' %}{{'<|user|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>
' + message['content'] + '<|end|>
'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %}""",
    "deepseek_like": """{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}
{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
        {%- set ns.system_prompt = ns.system_prompt + message['content'] %}
    {%- endif %}
{%- endfor %}
{{ bos_token }}{{ ns.system_prompt }}
{%- for message in messages %}
    {%- if message['role'] == 'user' %}
        {%- set ns.is_tool = false -%}
        {{'<|User|>' + message['content']}}
    {%- endif %}
    {%- if message['role'] == 'assistant' and message['content'] is none %}
        {%- set ns.is_tool = false -%}
        {{'<|Assistant|>'}}
    {%- endif %}
    {%- if message['role'] == 'assistant' and message['content'] is not none %}
        {%- set content = message['content'] %}
        {%- if '</think>' in content %}
            {%- set content = content.split('</think>')[-1] %}
        {%- endif %}
        {{'<|Assistant|>' + content.lstrip('\\n') + '<|end▁of▁sentence|>'}}
    {%- endif %}
    {%- if message['role'] == 'tool' %}
        {%- set ns.is_tool = true -%}
        {%- if ns.is_output_first %}
            {{'<|tool▁outputs▁begin|><|tool▁output▁begin|>' + message['content'] + '<|tool▁output▁end|>'}}
            {%- set ns.is_output_first = false %}
        {%- else %}
            {{'\\n<|tool▁output▁begin|>' + message['content'] + '<|tool▁output▁end|>'}}
        {%- endif %}
    {%- endif %}
{%- endfor -%}
{% if ns.is_tool %}{{'<|tool▁outputs▁end|>'}}{% endif %}
{% if add_generation_prompt and not ns.is_tool %}{{'<|Assistant|><think>\\n'}}{% endif %}""",
    "schema_macro_like": """{%- macro render_type(schema, depth=0) -%}
{%- if depth > 3 -%}...{%- elif schema is not mapping -%}any
{%- elif schema.type == 'object' -%}
{ {%- for name, prop in schema.properties | dictsort -%}
{{ name }}{{ '?' if name not in schema.get('required', []) }}: {{ render_type(prop, depth + 1) }}{{ ', ' if not loop.last }}
{%- endfor -%} }
{%- elif schema.type == 'array' -%}{{ render_type(schema['items'], depth + 1) }}[]
{%- elif schema.enum is defined -%}{{ schema.enum | map('tojson') | join(' | ') }}
{%- else -%}{{ schema.type }}
{%- endif -%}
{%- endmacro -%}
{%- for tool in tools | default([]) -%}
// {{ tool.function.description | default('(no description)') }}
type {{ tool.function.name | replace('_', '-') | upper }} = ({{ render_type(tool.function.parameters) }}) => any;
{% endfor -%}
{%- for m in messages | selectattr('role', 'in', ['user', 'assistant']) -%}
{%- generation -%}[{{ m.role | capitalize }}] {{ m.content | truncate(20, killwords=true) }}{%- endgeneration %}

{% endfor -%}
{{- '<gen>' if add_generation_prompt -}}""",
}

# ---- micro templates: (name, template, context) ----
XS = {"xs": [3, 1, 2], "words": ["b", "A", "c", "a"], "d": {"b": 2, "a": 1, "c": None},
      "people": [{"name": "Ann", "age": 31, "tags": ["x"]}, {"name": "bob", "age": 25}, {"name": "Cy", "age": 31, "tags": []}],
      "s": "  Hello, World!  ", "n": 7, "f": 2.5, "neg": -3, "empty": [], "none": None, "t": True, "emoji": "a🙂b🎉c",
      "nested": {"a": [1, {"b": [True, None, 1.5, "é\"\\\n"]}], "z": {}}}
MICRO = [
    # whitespace control, trim_blocks, lstrip_blocks
    ("ws_trim_after_block", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("ws_lstrip_indented", "<\n    {% if true %}\n    x\n    {% endif %}\n>", {}),
    ("ws_lstrip_tabs", "a\n\t\t{% if true %}\n\tb\n\t{% endif %}\n", {}),
    ("ws_lstrip_not_after_text", "a  {% if true %}b{% endif %}  c", {}),
    ("ws_lstrip_after_var", "{{ 'v' }}   {% if true %}x{% endif %}", {}),
    ("ws_lstrip_first_line", "   {% if true %}x{% endif %}", {}),
    ("ws_var_not_lstripped", "a\n    {{ 'x' }}\n    y", {}),
    ("ws_minus_both", "a  \n {%- if true -%} \n  b  \n {%- endif -%}  \n c", {}),
    ("ws_minus_var", "a \n {{- 'x' -}} \n b", {}),
    ("ws_minus_left_only", "a   {{- 'x' }}   b", {}),
    ("ws_plus_disables_lstrip", "a\n    {%+ if true %}x{% endif %}", {}),
    ("ws_plus_disables_trim", "{% if true +%}\nx{% endif +%}\ny", {}),
    ("ws_trim_only_one_newline", "{% if true %}\n\nx{% endif %}\n\n", {}),
    ("ws_trim_not_spaces", "{% if true %}  \nx{% endif %}", {}),
    ("ws_comment_lstrip_trim", "a\n  {# note #}\nb", {}),
    ("ws_comment_minus", "a  {#- note -#}  b", {}),
    ("ws_comment_inline", "a {# c #} b", {}),
    ("ws_comment_multiline", "x{# line1\nline2 {{ not a var }} #}y", {}),
    ("ws_raw", "{% raw %}{{ x }}{% if %}{% endraw %}", {}),
    ("ws_raw_lstrip", "a\n  {% raw %}\n{{ b }}\n  {% endraw %}\nc", {}),
    ("ws_raw_minus", "a {%- raw -%}  {{ b }}  {%- endraw -%} c", {}),
    ("ws_crlf_source", "{% if true %}\r\nx\r\n{% endif %}\r\ny\r\n", {}),
    ("ws_trailing_newline_dropped", "x\n", {}),
    ("ws_two_trailing_newlines", "x\n\n", {}),
    ("ws_nbsp_lstrip", "a\n\u00a0 {% if true %}x{% endif %}", {}),
    ("ws_block_end_minus_then_text", "{% for i in [1,2] -%}\n  {{ i }}\n{%- endfor %}", {}),
    ("ws_nested_blocks_indent", "{% for i in [1, 2] %}\n  {% if i > 1 %}\n    big {{ i }}\n  {% else %}\n    small {{ i }}\n  {% endif %}\n{% endfor %}\n", {}),
    ("ws_set_lines", "{% set a = 1 %}\n{% set b = 2 %}\n{{ a + b }}\n", {}),
    ("ws_dict_literal_braces", "{{ {'a': {'b': 1}} }}", {}),
    # literals and printing
    ("lit_strings", "{{ 'a\\tb\\n' }}|{{ \"d'q\" }}|{{ 'x' 'y' \"z\" }}|{{ '\\x41\\u00e9\\U0001F600\\101' }}|{{ 'a\\qb' }}", {}),
    ("lit_numbers", "{{ 1 }} {{ -2 }} {{ 1_000 }} {{ 0x1f }} {{ 0o17 }} {{ 0b101 }} {{ 1.5 }} {{ 1e3 }} {{ 2.5e-3 }} {{ 1.0 }} {{ 12345678901234567.0 }}", {}),
    ("lit_floats_repr", "{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }} {{ 2/2 }} {{ -0.0 }} {{ 1e300*1e10 }} {{ 123456789.123 }}", {}),
    ("lit_constants", "{{ true }} {{ True }} {{ false }} {{ False }} {{ none }} {{ None }}", {}),
    ("lit_containers", "{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] }} {{ (1,) }} {{ () }} {{ (1, 2) }} {{ {} }} {{ [] }}", {}),
    ("lit_string_reprs", "{{ ['a', \"b'c\", 'd\"e', 'f\\'g\"h', '\\n\\t\\r', '\\x01\\x7f', 'é', '🙂', '\\u200b', '\\\\', '\\u00a0'] }}", {}),
    ("lit_tuple_print", "{{ 1, 'two' }}", {}),
    ("lit_dict_order", "{{ {'b': 1, 'a': 2, 1: 'int', 2.5: 'f', true: 'bool', none: 'n'} }}", {}),
    ("lit_trailing_commas", "{{ [1, 2,] }} {{ {'a': 1,} }} {{ (1, 2,) }}", {}),
    ("print_context_values", "{{ xs }} {{ d }} {{ none }} {{ t }} {{ f }} {{ nested }}", XS),
    # arithmetic and operators
    ("ops_int", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}", {}),
    ("ops_float", "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1.5 * 2 }} {{ 3 - 0.5 }} {{ 2.0 ** 0.5 }} {{ 10 / 4 }} {{ 1 + true }} {{ true + true }}", {}),
    ("ops_strings", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ 'x' * 0 }} {{ 'x' * -2 }}|{{ 1 ~ 'a' ~ none ~ [1] ~ undefined_var }}", {}),
    ("ops_lists", "{{ [1] + [2, 3] }} {{ [0] * 3 }} {{ (1,) + (2,) }} {{ [] * 5 }}", {}),
    ("ops_compare", "{{ 1 < 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 != 2 }} {{ none == none }} {{ true == 1 }} {{ 'a' == 1 }} {{ 2 >= 2 }} {{ 2 <= 1 }}", {}),
    ("ops_in", "{{ 1 in [1, 2] }} {{ 'b' in 'abc' }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'z' not in 'abc' }} {{ 1.0 in [1] }}", {}),
    ("ops_logic", "{{ true and 'x' }} {{ 0 and 'x' }} {{ '' or 'default' }} {{ 'a' or 'b' }} {{ not 0 }} {{ not not 'a' }} {{ none or [] }}|{{ undefined_var or 'u' }}", {}),
    ("ops_condexpr", "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'y' if false }}] {{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("ops_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -3 | abs }} {{ 2 * 3 | string }} {{ 'a' ~ 'b' + 'c' }} {{ 'x' + 'y' ~ 'z' }} {{ not 1 == 2 }}", {}),
    ("ops_unary", "{{ -n }} {{ +n }} {{ - -n }} {{ -f }} {{ +true }}", XS),
    # variables and access
    ("access_attr_item", "{{ d.a }} {{ d['b'] }} {{ people[0].name }} {{ people[1]['age'] }} {{ people[-1].name }} {{ xs[1] }} {{ xs.1 }}", XS),
    ("access_missing", "[{{ d.zz }}] [{{ d['zz'] }}] [{{ xs[10] }}] [{{ none.x }}] [{{ 'str'.nope }}] [{{ undefined_var }}] [{{ n[0] }}]", XS),
    ("access_dict_method_vs_key", "{% set m = {'items': 'key-val', 'x': 1} %}{{ m['items'] }}|{{ m.x }}|{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}", {}),
    ("access_string_index", "{{ emoji[1] }} {{ emoji[-1] }} {{ emoji | length }} {{ 'abc'[0] }}", XS),
    ("access_loop_over_string", "{% for c in emoji %}[{{ c }}]{% endfor %}", XS),
    # slicing
    ("slice_lists", "{{ xs[1:] }} {{ xs[:1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[-2:] }} {{ xs[5:] }} {{ xs[1:-1] }} {{ xs[:] }} {{ xs[2:0:-1] }} {{ xs[-10:10] }}", XS),
    ("slice_strings", "{{ emoji[::-1] }} {{ emoji[1:3] }} {{ s[2:7] }} {{ 'abcdef'[::3] }} {{ 'abcdef'[-3:] }} {{ 'abc'[10:] }}|", XS),
    ("slice_tuple", "{{ (1, 2, 3)[1:] }} {{ (1, 2)[:1] }}", {}),
    ("slice_messages", "{% for m in messages[1:] %}{{ m.role }},{% endfor %}", SYS_CHAT),
    # statements: if / for / set
    ("if_elif_else", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three{% else %}many{% endif %} {% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
    ("for_previtem_nextitem", "{% for x in [1, 2, 3] %}({{ loop.previtem }},{{ loop.nextitem }}){{ loop.previtem is defined }}{% endfor %}", {}),
    ("for_cycle_changed_depth", "{% for x in [1, 1, 2, 3, 3] %}{{ loop.cycle('odd', 'even') }}-{{ loop.changed(x) }}-{{ loop.depth }}{{ loop.depth0 }} {% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in [1, 2, 3, 4, 5] if x is odd %}{{ loop.index }}/{{ loop.length }}:{{ x }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("for_filter_else", "{% for x in [1, 3] if x is even %}{{ x }}{% else %}none even{% endfor %}", {}),
    ("for_tuple_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for a, b in [[1, 2], (3, 4), 'xy'] %}{{ a }}{{ b }}{% endfor %}|{% for (a, b) in [(5, 6)] %}{{ a + b }}{% endfor %}", XS),
    ("for_dict_iterates_keys", "{% for k in d %}{{ k }}{% endfor %}", XS),
    ("for_nested_outer_loop", "{% for i in [1, 2] %}{% set outer = loop %}{% for j in 'ab' %}{{ outer.index }}{{ loop.index }}{{ j }} {% endfor %}{% endfor %}", {}),
    ("for_undefined_iterates_empty", "[{% for x in undefined_var %}x{% endfor %}]", {}),
    ("for_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i * 10 %}{{ x }} {% endfor %}{{ x }}", {}),
    ("for_scoping_if_set", "{% for i in [1, 2] %}{% if i == 1 %}{% set y = 'a' %}{% endif %}[{{ y }}]{% endfor %}[{{ y }}]", {}),
    ("for_range", "{% for i in range(3) %}{{ i }}{% endfor %} {% for i in range(1, 10, 3) %}{{ i }}{% endfor %} {% for i in range(5, 0, -2) %}{{ i }}{% endfor %} {{ range(3) | list }} {{ range(2, 5) | length }} {{ range(0, 10, 2) }}", {}),
    ("loop_break_continue", "{% for i in range(10) %}{% if i is even %}{% continue %}{% endif %}{% if i > 6 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("loop_break_nested", "{% for i in [1, 2, 3] %}{% for j in [1, 2, 3] %}{% if j > i %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}", {}),
    ("loop_break_last", "{% for i in [1, 2, 3] %}{{ i }}{{ '!' if loop.last }}{% if i == 2 %}{% break %}{% endif %}{% endfor %}", {}),
    ("set_basic", "{% set a = 1 %}{% set b, c = 'x', [2] %}{% set t = 1, 2 %}{{ a }}{{ b }}{{ c }}{{ t }}", {}),
    ("set_block", "{% set body %}\n  Hello {{ name }}!\n{% endset %}[{{ body }}]{% set up | upper | trim %} shout {% endset %}[{{ up }}]", {"name": "Bo"}),
    ("set_namespace", "{% set ns = namespace(count=0, items=[], found=false) %}{% for x in [1, 2, 3] %}{% set ns.count = ns.count + x %}{% set ns.items = ns.items + [x * 2] %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.items }} {{ ns.found }} {{ ns.missing is defined }}", {}),
    ("set_namespace_dict_arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }} {{ ns }}", {}),
    ("set_messages_override", "{% set messages = messages[1:] %}{{ messages | length }}{% for m in messages %}{{ m.role[0] }}{% endfor %}", SYS_CHAT),
    ("with_block", "{% set a = 1 %}{% with a = 2, b = 3 %}{{ a }}{{ b }}{% set c = 4 %}{% endwith %}{{ a }}[{{ b }}][{{ c }}]", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}|{% filter replace('a', 'o') | trim %}  banana  {% endfilter %}", {}),
    ("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% set inside = 1 %}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}[{{ inside }}]", SYS_CHAT),
    ("print_statement", "{% print 'a', 1 + 1 %}", {}),
    # macros
    ("macro_defaults", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', 'Hi') }} {{ greet('Cy', punct='?') }} {{ greet(name='Di', greeting='Yo') }}", {}),
    ("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}][{{ b }}][{{ b is defined }}]{% endmacro %}{{ m(1) }}", {}),
    ("macro_default_refers_param", "{% macro m(a, b=a ~ 'x') %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(1, 2) }}", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, 3) }}|{{ m(1, c=2) }}", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}{{ fact(10) }}", {}),
    ("macro_tree", "{% macro show(node) %}{{ node.name }}{% if node.children %}({% for c in node.children %}{{ show(c) }}{{ ',' if not loop.last }}{% endfor %}){% endif %}{% endmacro %}{{ show(tree) }}", {"tree": {"name": "r", "children": [{"name": "a", "children": [{"name": "a1"}]}, {"name": "b", "children": []}]}}),
    ("macro_sees_later_globals", "{% macro m() %}{{ y }}{% endmacro %}{% set y = 3 %}{{ m() }}{% set y = 4 %}{{ m() }}", {}),
    ("macro_scope_isolated", "{% set x = 'outer' %}{% macro m() %}{% set x = 'inner' %}{{ x }}{% endmacro %}{{ m() }}{{ x }}", {}),
    ("macro_print", "{% macro mm() %}{% endmacro %}{{ mm }} {{ mm is callable }}", {}),
    ("macro_in_loop", "{% for i in [1, 2] %}{% macro m(x) %}<{{ x }}{{ i }}>{% endmacro %}{{ m(i) }}{% endfor %}", {}),
    # filters
    ("filter_trim", "[{{ s | trim }}] [{{ 'xxhixx' | trim('x') }}] [{{ '\\u3000 a \\n' | trim }}]", XS),
    ("filter_length_count", "{{ xs | length }} {{ 'héllo' | length }} {{ d | count }} {{ undefined_var | length }} {{ emoji | count }}", XS),
    ("filter_case", "{{ 'heLLo wOrld' | upper }} {{ 'HeLLo' | lower }} {{ 'hello world-wide (x)[y]{z}<w> they\\'re' | title }} {{ 'hELLO wORLD' | capitalize }} {{ 'straße' | upper }} {{ 'ǅx' | lower }}", {}),
    ("filter_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }} {{ 1212 | replace(1, 3) }} {{ 'a.b' | replace('.', '') }}", {}),
    ("filter_join", "{{ xs | join }} {{ xs | join(', ') }} {{ people | join(' / ', attribute='name') }} {{ [1, none, 'a', [2]] | join('-') }} {{ 'abc' | join('.') }}", XS),
    ("filter_first_last", "{{ xs | first }} {{ xs | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}] [{{ empty | last }}] {{ d | first }}", XS),
    ("filter_default", "{{ undefined_var | default('dflt') }} {{ none | default('dflt') }} {{ '' | default('dflt') }} {{ '' | default('dflt', true) }} {{ 0 | d('zero', true) }} {{ d.zz | d(5) }} {{ undefined_var | default }}|", XS),
    ("filter_tojson_basic", "{{ d | tojson }} {{ xs | tojson }} {{ 'a\"b\\\\c\\n\\t\\u0001é🙂</script>&' | tojson }} {{ none | tojson }} {{ true | tojson }} {{ 1.0 | tojson }} {{ 1e20 | tojson }} {{ (1, 'a') | tojson }}", XS),
    ("filter_tojson_indent", "{{ nested | tojson(indent=2) }}\n{{ nested | tojson(indent='\\t') }}\n{{ {'e': [], 'o': {}} | tojson(indent=4) }}\n{{ [1, [2, []]] | tojson(indent=0) }}", XS),
    ("filter_tojson_options", "{{ {'b': 1, 'a': [1, 2]} | tojson(sort_keys=true) }} {{ {'b': 1, 'a': [1, 2]} | tojson(separators=(',', ':')) }} {{ 'é' | tojson(ensure_ascii=true) }} {{ {1: 'int', none: 'n', true: 'b', 2.5: 'f'} | tojson }}", {}),
    ("filter_tojson_tool", "{{ tools[0] | tojson }}\n{{ tools[0].function.parameters | tojson(indent=4) }}", TOOL_CHAT),
    ("filter_string_int_float", "{{ 12 | string }} {{ [1] | string }} {{ '42' | int }} {{ '42.9' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.99 | int }} {{ -3.99 | int }} {{ ' 12 ' | int }} {{ '0x1A' | int(base=16) }} {{ '1_000' | int }} {{ true | int }} {{ '3.5' | float }} {{ 'x' | float }} {{ 3 | float }} {{ '1e3' | float }} {{ ' -2.5 ' | float }} {{ 'inf' | float }}", {}),
    ("filter_list_items", "{{ 'ab' | list }} {{ d | list }} {{ d | items | list }} {{ (1, 2) | list }} {{ undefined_var | list }} {{ undefined_var | items | list }}", XS),
    ("filter_dictsort", "{{ d | dictsort }} {{ {'b': 1, 'A': 2, 'a': 3} | dictsort }} {{ {'b': 1, 'A': 2, 'a': 3} | dictsort(true) }} {{ {'x': 2, 'y': 1} | dictsort(by='value') }} {{ {'x': 2, 'y': 1} | dictsort(reverse=true) }}", XS),
    ("filter_selectattr", "{{ people | selectattr('age', 'eq', 31) | map(attribute='name') | list }} {{ people | rejectattr('tags') | map(attribute='name') | join(',') }} {{ people | selectattr('tags', 'defined') | list | length }} {{ people | selectattr('name', 'in', ['bob', 'Cy']) | map(attribute='age') | list }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }}", dict(XS, **SYS_CHAT)),
    ("filter_select_reject", "{{ [0, 1, 2, 3, '', 'a', none] | select | list }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ [1, 5, 10] | select('gt', 4) | list }} {{ ['a', 1, none] | reject('string') | list }} {{ [1, 2, 3] | select('divisibleby', 3) | list }}", {}),
    ("filter_map", "{{ people | map(attribute='name') | list }} {{ people | map(attribute='tags', default=['-']) | list }} {{ ['a', 'B'] | map('upper') | list }} {{ ['a-b', 'c-d'] | map('replace', '-', '+') | join }} {{ [[1], [2, 3]] | map('length') | list }} {{ people | map(attribute='tags.0', default='none') | list }}", XS),
    ("filter_unique", "{{ [1, 2, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b', 'a'] | unique | list }} {{ ['a', 'A', 'b'] | unique(case_sensitive=true) | list }} {{ people | unique(attribute='age') | map(attribute='name') | list }}", XS),
    ("filter_reverse", "{{ 'abc' | reverse }} {{ xs | reverse | list }} {% for x in xs | reverse %}{{ x }}{% endfor %} {{ emoji | reverse }} {{ d | reverse | list }}", XS),
    ("filter_sort", "{{ xs | sort }} {{ xs | sort(reverse=true) }} {{ words | sort }} {{ words | sort(case_sensitive=true) }} {{ people | sort(attribute='age') | map(attribute='name') | list }} {{ people | sort(attribute='age,name') | map(attribute='name') | list }} {{ people | sort(attribute='name', reverse=true) | map(attribute='name') | join(',') }}", XS),
    ("filter_abs_round", "{{ -3 | abs }} {{ -2.5 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 3 | round }} {{ 2.675 | round(2) }} {{ 2.567 | round(1, 'floor') }} {{ 2.521 | round(1, 'ceil') }} {{ -2.5 | round }} {{ 1234.5 | round(-2) }} {{ 15 | round(-1) }}", {}),
    ("filter_wordcount_center", "{{ 'Hello, world! foo_bar 42 héllo' | wordcount }} [{{ 'ab' | center(7) }}] [{{ 'abc' | center(8) }}] [{{ 'abcdef' | center(3) }}]", {}),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc' | indent }}] [{{ 'a\\nb\\n\\nc' | indent(2, first=true) }}] [{{ 'a\\nb\\n\\nc' | indent(2, blank=true) }}] [{{ 'a\\nb' | indent('> ') }}] [{{ 'x\\n' | indent(2) }}]", {}),
    ("filter_safe_escape", "{{ '<b>' | safe }} {{ '<a href=\"x\">&\\'</a>' | e }} {{ '<x>' | escape }} {{ 5 | e }}", {}),
    ("filter_sum_min_max", "{{ xs | sum }} {{ people | sum(attribute='age') }} {{ [1.5, 2] | sum(start=10) }} {{ xs | min }} {{ xs | max }} {{ words | min }} {{ words | max }} {{ words | max(case_sensitive=true) }} {{ people | max(attribute='age') }} [{{ [] | min }}]", XS),
    ("filter_batch_slice", "{{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3] | batch(2, 'x') | list }} {{ [1, 2, 3, 4, 5] | slice(2) | list }} {{ [1, 2, 3, 4] | slice(3, 0) | list }}", {}),
    ("filter_truncate", "{{ 'Hello world, how are you' | truncate(12) }}|{{ 'Hello world, how are you' | truncate(12, true) }}|{{ 'Hello world, how are you' | truncate(12, false, '!', 0) }}|{{ 'short' | truncate(3, leeway=5) }}", {}),
    ("filter_format", "{{ '%s and %s' | format('a', 'b') }} {{ '%d%%' | format(50) }} {{ '%(x)s!' | format(x=1) }} {{ '%5.2f|%-4s|%04d|%x|%r' | format(3.14159, 'ab', 42, 255, 'q') }} {{ '%s' % 'one' }} {{ '%s-%s' % (1, 2) }}", {}),
    ("filter_attr", "{{ people[0] | attr('name') }} [{{ people[0] | attr('nope') }}]", XS),
    ("filter_chain_precedence", "{{ 'a' ~ 'b' | upper }} {{ ('a' ~ 'b') | upper }} {{ messages[0]['content'] | trim | length }}", SYS_CHAT),
    # tests
    ("tests_defined_none", "{{ undefined_var is defined }} {{ undefined_var is undefined }} {{ none is none }} {{ 0 is none }} {{ d.c is none }} {{ d.c is defined }} {{ xs is not none }}", XS),
    ("tests_types", "{{ 'a' is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 1 is boolean }} {{ d is mapping }} {{ xs is mapping }}", XS),
    ("tests_iterable_sequence", "{{ xs is iterable }} {{ 'a' is iterable }} {{ d is iterable }} {{ 1 is iterable }} {{ undefined_var is iterable }} {{ xs is sequence }} {{ 'a' is sequence }} {{ d is sequence }} {{ 1 is sequence }} {{ none is iterable }}", XS),
    ("tests_true_false", "{{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} {{ none is false }}", {}),
    ("tests_numbers", "{{ 4 is even }} {{ 3 is odd }} {{ 3.0 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ -2 is even }}", {}),
    ("tests_compare", "{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 2 is ne 1 }} {{ 1 is lt 2 }} {{ 1 is lessthan 0 }} {{ 2 is le 2 }} {{ 3 is gt 2 }} {{ 3 is greaterthan 5 }} {{ 3 is ge 4 }} {{ 'a' is in 'cat' }} {{ 2 is in [1, 2] }} {{ 'x' is in {'x': 1} }}", {}),
    ("tests_case_callable", "{{ 'abc' is lower }} {{ 'aBc' is lower }} {{ 'ABC' is upper }} {{ '12' is upper }} {{ range is callable }} {{ 'x' is callable }} {{ none is sameas none }} {{ 1 is sameas 1 }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }}", {}),
    ("tests_in_conditions", "{% for m in messages %}{% if m.content is string and m.role is not in ['system'] and m.tool_calls is not defined %}{{ m.role }};{% endif %}{% endfor %}", SYS_CHAT),
    # string / dict / list methods
    ("str_methods_strip", "[{{ s.strip() }}] [{{ s.lstrip() }}] [{{ s.rstrip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ '--a--'.lstrip('-') }}] [{{ 'ab\\n\\n'.rstrip('\\n') }}] [{{ 'abc'.strip('cab') }}]", XS),
    ("str_methods_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b  '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }} {{ 'x</think>y</think>z'.split('</think>')[-1] }} {{ ''.split() }} {{ ''.split(',') }}", {}),
    ("str_methods_misc", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'hello world'.title() }} {{ \"they're\".title() }} {{ 'hello'.capitalize() }} {{ 'a-b-c'.replace('-', '+', 1) }} {{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.count('bc') }} {{ ', '.join(['a', 'b']) }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'prefix-x'.removeprefix('prefix-') }} {{ 'abc'.rfind('c') }}", {}),
    ("str_methods_format", "{{ '{} and {}'.format('a', 'b') }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='Bo') }} {{ '{:>5}|{:<4}|{:^7}|{:.2f}|{:05d}|{!r}'.format('ab', 'c', 'mid', 3.14159, 42, 'q') }} {{ '{{literal}}'.format() }}", {}),
    ("str_methods_partition_just", "{{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }} [{{ 'ab'.ljust(4, '*') }}] [{{ 'ab'.rjust(4) }}] [{{ '5'.zfill(3) }}] [{{ '-5'.zfill(4) }}]", {}),
    ("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.items() | length }} {{ d.items() }} {{ d.keys() }} {{ d.values() }}", XS),
    ("dict_literal_and_dict_global", "{{ dict(a=1, b='x') }} {{ dict({'k': 1}, z=2) }} {{ dict([('p', 1), ('q', 2)]) }} {{ {'a': 1, 'a': 2} }}", {}),
    ("list_methods", "{{ [1, 2, 1].count(1) }} {{ ['a', 'b'].index('b') }} {{ xs.index(2) }}", XS),
    # globals
    ("global_cycler_joiner", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{% set j = joiner('|') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}),
    ("global_strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %-d %I%p %j %y') }}", {}),
    ("global_namespace_print", "{{ namespace(a=1, b=[1, 'x']) }}", {}),
    # undefined semantics
    ("undefined_printing", "[{{ undefined_var }}] [{{ undefined_var | upper }}] [{{ undefined_var | trim }}] [{{ undefined_var | join(',') }}] [{{ undefined_var | first }}] {{ undefined_var == undefined_var }} {{ undefined_var == none }} {{ 1 in undefined_var }} {{ not undefined_var }}", {}),
    ("undefined_in_if", "{% if undefined_var %}yes{% else %}no{% endif %}{% if undefined_var is defined and undefined_var.x %}never{% endif %}", {}),
    # scoping and statement edge cases
    ("scope_generation_own_scope", "{% generation %}{% set g = 1 %}[{{ g }}]{% endgeneration %}[{{ g }}]", {}),
    ("scope_for_else_set", "{% for x in [] %}{% else %}{% set e = 1 %}{% endfor %}[{{ e }}]", {}),
    ("scope_if_set_top_level", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", {}),
    ("scope_loop_outside", "[{{ loop }}][{{ loop is defined }}]", {}),
    ("scope_loop_var_after_loop", "{% for i in [1, 2] %}{% endfor %}[{{ i }}]", {}),
    ("scope_macro_defined_in_if", "{% if true %}{% macro m() %}in{% endmacro %}{% endif %}{{ m() }}", {}),
    ("scope_macro_reads_loop_var", "{% for i in [1, 2] %}{% macro m() %}{{ i }}{% endmacro %}{{ m() }}{% endfor %}", {}),
    ("scope_set_block_in_loop", "{% for i in [1, 2] %}{% set b %}<{{ i }}>{% endset %}{{ b }}{% endfor %}[{{ b }}]", {}),
    ("scope_with_nested_set", "{% with %}{% set w = 1 %}{{ w }}{% endwith %}[{{ w }}]", {}),
    ("scope_namespace_in_macro", "{% set ns = namespace(n=0) %}{% macro inc() %}{% set ns.n = ns.n + 1 %}{% endmacro %}{{ inc() }}{{ inc() }}{{ ns.n }}", {}),
    ("scope_shadow_context_var", "{{ x }}{% set x = 'local' %}{{ x }}{% for i in [1] %}{{ x }}{% set x = 'loop' %}{{ x }}{% endfor %}{{ x }}", {"x": "ctx"}),
    ("scope_loop_filter_sees_target", "{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role[0] }}{% endfor %}", SYS_CHAT),
    ("scope_nested_loop_vars", "{% for a in [1, 2] %}{% for b in [a, a * 10] %}{{ a }}:{{ b }}:{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("loop_nextitem_last_with_filter", "{% for x in [1, 2, 3, 4] if x != 3 %}{{ x }}{{ '>' ~ loop.nextitem if not loop.last }} {% endfor %}", {}),
    ("loop_length_of_dict_and_string", "{% for k in {'a': 1, 'b': 2} %}{{ loop.length }}{% endfor %}{% for c in 'xyz' %}{{ loop.revindex }}{% endfor %}", {}),
    ("loop_continue_in_else_free", "{% for i in [1, 2, 3] %}{% if i == 2 %}{% continue %}{% else %}{{ i }}{% endif %}{% endfor %}", {}),
    # real-template formatting patterns
    ("fmt_minus_lines", "{%- for m in messages %}\n    {{- m.role }}\n{% endfor %}\n", SYS_CHAT),
    ("fmt_mixed_lines", "{% for m in messages -%}\n  <{{ m.role }}>\n  {%- if m.content %} {{ m.content | trim }}{% endif %}\n{% endfor -%}\nEND", SYS_CHAT),
    ("fmt_indented_blocks_plain", "BEGIN\n{% for m in messages %}\n    {% if loop.first %}\n        first: {{ m.role }}\n    {% endif %}\n    row {{ loop.index }}\n{% endfor %}\nEND\n", SYS_CHAT),
    ("fmt_inline_if_in_text", "Hello {% if name %}{{ name }}{% else %}there{% endif %}!\n  {% if true %}  indented{% endif %}\n", {"name": ""}),
    ("fmt_comment_lines", "{# header comment #}\nA\n    {#- inline -#}\nB\n  {# c #}  \nC", {}),
    ("fmt_var_then_block_line", "{{ 'v' }}\n  {% if true %}\nx\n  {% endif %}\n", {}),
    ("fmt_blank_lines_between_blocks", "{% set a = 1 %}\n\n{% set b = 2 %}\n\n\n{{ a }}{{ b }}", {}),
    ("fmt_strings_with_delimiters", "{{ '{{ x }}' }}|{{ '%}' }}|{{ '}}' }}|{% set t = '{%' %}{{ t }}|{{ \"#}\" }}", {}),
    ("fmt_block_in_text_line_end", "a {% if true %}b{% endif %}\nc", {}),
    ("fmt_lstrip_before_else", "{% if false %}\n  no\n  {% else %}\n  yes\n  {% endif %}\n", {}),
    ("fmt_raw_with_tags_inside", "{% raw %}\n{% for x in y %}{{ x }}{% endfor %}\n{% endraw %}\n", {}),
    ("fmt_trailing_space_after_tag", "{% if true %} \nx{% endif %}", {}),
    ("fmt_tab_in_tag", "{%\tif true\t%}x{%\tendif\t%}", {}),
    ("fmt_newlines_in_tag", "{{\n  'a'\n  ~ 'b'\n}}{%\n if true\n%}c{% endif %}", {}),
    # more values
    ("val_int_float_mix", "{{ 3 * 1.0 }} {{ 2 ** 0.5 * 2 ** 0.5 }} {{ 10 // 3.0 }} {{ 7 % 2.5 }} {{ 1e-5 }} {{ 123e10 }} {{ 1.5e16 }} {{ 0.1 * 3 }} {{ 100.0 / 3 }}", {}),
    ("val_nested_repr", "{{ [[1, [2, (3,)]], {'k': [none, {'z': 'é'}]}] }} {{ [{'a': \"it's\"}] }}", {}),
    ("val_bool_ops_return_values", "{{ [] or 'e' }} {{ 'x' and 0 }} {{ none and 1 }} {{ 1 and [] }}", {}),
    ("val_string_compare_unicode", "{{ 'é' > 'z' }} {{ '🙂' > '\uffff' }} {{ 'a' < 'B' }} {{ ['a', 'B', 'é', '🙂', '\uffef'] | sort }}", {}),
    ("val_numeric_key_lookup", "{% set m = {1: 'one', 2.0: 'two'} %}{{ m[1.0] }}{{ m[2] }}{{ m[true] }}", {}),
    ("val_tojson_floats", "{{ [1.0, 0.1, 1e16, 1e-7, -0.0, 3.14159, 100.0] | tojson }}", {}),
    ("val_in_dict_values", "{{ 'user' in messages | map(attribute='role') | list }} {{ 'user' in messages[1].values() }} {{ 'role' in messages[1] }} {{ 'role' in messages[1].keys() }}", SYS_CHAT),
    ("val_string_mult_concat_unicode", "{{ ('é🙂' * 3) | length }} {{ 'é🙂'[1] }} {{ ('é🙂' ~ 1)[::-1] }}", {}),
    ("val_range_ops", "{{ range(5)[2] }} {{ range(5)[-1] }} {{ range(10)[2:5] | list }} {{ 3 in range(5) }} {{ range(0) | list }} {{ range(3) | length }} {{ range(1, 10, 4) }}", {}),
    ("val_none_attribute_chain", "[{{ none.x }}] [{{ none['x'] }}] {{ d.c is none }}", XS),
    ("val_content_list", "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for part in m.content %}[{{ part.type }}:{{ part.text | default(part.url, true) }}]{% endfor %}{% endif %};{% endfor %}", {"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image", "url": "http://x/y.png"}]}, {"role": "assistant", "content": "ok"}]}),
    # more filters, methods and formatting
    ("fmt_percent_more", "{{ '%g|%g|%g|%.3g|%e|%.2E|%+d|% d|%5.1f%%|%c|%o|%#x|%-6d|' | format(0.0001, 1234567.0, 1e-5, 3.14159, 12345.678, 0.000123, 5, 7, 99.44, 65, 8, 255, 42) }}", {}),
    ("fmt_format_spec_more", "{{ '{:g}|{:.3}|{:e}|{:>8.2f}|{:<6d}|{:*^9}|{:+.1f}|{:x}|{:#b}|{:%}|{:.1%}|{:08.3f}'.format(2.5, 3.14159, 1234.5, 2.0, 42, 'mid', 3.0, 255, 5, 0.25, 0.123, -3.14159) }}", {}),
    ("filter_int_more", "{{ '1e3' | int }} {{ '-0x1a' | int(base=16) }} {{ '0b101' | int(0, 2) }} {{ 'z' | int(base=36) }} {{ '12abc' | int(-1) }} {{ '+7' | int }} {{ '' | int }} {{ none | int }} {{ [1] | int(9) }}", {}),
    ("filter_float_more", "{{ '1_000.5' | float }} {{ '.5' | float }} {{ '5.' | float }} {{ 'nan' | float }} {{ '-inf' | float }} {{ none | float }} {{ '1e400' | float }}", {}),
    ("filter_map_filters", "{{ ['1', '2', 'x'] | map('int') | list }} {{ [none, 'a'] | map('default', 'd') | list }} {{ ['a', 'b'] | map('replace', 'a', 'A') | list }} {{ [1.234, 5.678] | map('round', 1) | list }}", {}),
    ("filter_select_tests_more", "{{ ['a', 'b', 'c'] | select('equalto', 'b') | list }} {{ [1, 2, 3] | select('in', [1, 3]) | list }} {{ [none, 1, undefined_var] | select('defined') | list }} {{ [1, 'a', 2.5, none] | select('number') | list }} {{ ['A', 'b'] | select('upper') | list }}", {}),
    ("filter_selectattr_dotted", "{{ tools | selectattr('function.name', 'eq', 'get_weather') | map(attribute='function.parameters.required') | list }} {{ tools | map(attribute='function.parameters.properties.unit.enum.1') | list }}", TOOL_CHAT),
    ("filter_first_last_dict_join_dict", "{{ {'x': 1, 'y': 2} | first }} {{ {'x': 1, 'y': 2} | last }} {{ {'x': 1, 'y': 2} | join('+') }} {{ {'x': 1} | list }}", {}),
    ("filter_indent_more", "[{{ '' | indent }}] [{{ 'a' | indent(first=true) }}] [{{ 'a\n\nb\n' | indent(3, true, true) }}] [{{ 'a\r\nb\u2028c' | indent(1) }}]", {}),
    ("filter_title_capitalize_unicode", "{{ 'élan vital ǆemal ßtraße o\\'neil mc-donald' | title }} | {{ 'éLAN' | capitalize }} | {{ 'ǆemal' | capitalize }} | {{ 'ﬁsh' | upper }}", {}),
    ("filter_wordcount_unicode", "{{ 'héllo wörld, 你好 世界! a_b c-d 3.14' | wordcount }}", {}),
    ("filter_truncate_more", "{{ 'abcdefghij klmnop' | truncate(9) }}|{{ 'abcdefghij klmnop' | truncate(9, leeway=0) }}|{{ 'a b c d e f g h i j' | truncate(10, leeway=0) }}|{{ 'exactly10!' | truncate(10, leeway=0) }}", {}),
    ("filter_dictsort_nested", "{% for k, v in {'b': {'z': 1}, 'a': [2], 'C': 3} | dictsort %}{{ k }}:{{ v }};{% endfor %}", {}),
    ("filter_sort_tuples_and_case", "{{ [(2, 'b'), (1, 'z'), (2, 'a')] | sort }} {{ ['b', 'B', 'a', 'A'] | sort }} {{ ['b', 'B', 'a', 'A'] | sort(case_sensitive=true) }} {{ [3, 1.5, true, 0] | sort }}", {}),
    ("filter_string_of_things", "{{ (1, 'a') | string }} {{ none | string }} {{ {'a': none} | string }} {{ 1.0 | string }} {{ namespace(x=1) | string }}", {}),
    ("filter_default_chain", "{{ messages[5] | default({'role': 'none'}) }} {{ (messages | last).role | default('x') }} {{ d.missing | default(d.a) }}", dict(SYS_CHAT, d={"a": 1})),
    ("filter_length_views", "{{ d.items() | length }} {{ d.keys() | length }} {{ range(4) | length }} {{ (d | items | list) | length }}", {"d": {"a": 1, "b": 2}}),
    ("str_methods_more", "{{ 'a b  c'.split(None, 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ 'abc'.startswith('') }} {{ 'abcdef'.startswith('cd', 2) }} {{ 'abcdef'.endswith('cd', 0, 4) }} {{ 'aXbXc'.split('X', -1) }} {{ 'x'.join('abc') }} {{ 'abc'.index('c') }} {{ 'l1\n\nl3\n'.splitlines() }} {{ 'Hi There'.isupper() }} {{ 'HI'.isupper() }} {{ 'hi 2'.islower() }}", {}),
    ("str_methods_strip_unicode_ws", "[{{ '\u00a0\u2003 x \u3000\n'.strip() }}] [{{ '\u200b x'.strip() }}] [{{ '\x1c x \x1f'.strip() }}]", {}),
    ("loop_cycle_nested_and_changed_objects", "{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b', 'c') }}{% for y in [1, 2] %}{{ loop.cycle('x', 'y') }}{% endfor %}{{ loop.changed(x % 2) }}{% endfor %}", {}),
    ("loop_over_dict_items_sorted", "{% for k, v in d | dictsort(by='value', reverse=true) %}{{ k }}{{ v }}{% endfor %}", {"d": {"a": 2, "b": 3, "c": 1}}),
    ("loop_over_generator_twice", "{% set g = [1, 2, 3] | select('odd') %}{% for x in g %}{{ x }}{% endfor %}|{% for x in g %}{{ x }}{% endfor %}|{{ g | list }}", {}),
    ("loop_index_math", "{% for m in messages %}{{ (loop.index0 + 1) % 2 }}{{ loop.index0 // 2 }}{{ messages[loop.index0 - 1].role[0] if not loop.first }};{% endfor %}", SYS_CHAT),
    ("namespace_in_nested_loops", "{% set ns = namespace(pairs=[]) %}{% for a in 'ab' %}{% for b in 'xy' %}{% set ns.pairs = ns.pairs + [a ~ b] %}{% endfor %}{% endfor %}{{ ns.pairs | join(',') }}", {}),
    ("joiner_default_and_cycler_reset", "{% set j = joiner() %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %}|{% set c = cycler(1, 2, 3) %}{{ c.next() }}{{ c.next() }}{{ c.reset() }}{{ c.next() }}{{ c.current }}", {}),
    ("cond_without_else_in_filter_arg", "[{{ 'abc' | replace('b', 'X' if true) }}] [{{ 'a' if x is defined }}] [{{ ('a' if false) ~ 'b' }}]", {}),
    ("compare_chains_mixed", "{{ 1 < 2 == 2 }} {{ 1 == 1 != 2 }} {{ 'a' in 'abc' in ['abc'] }} {{ not 1 in [2] }} {{ 1 in [1] == true }}", {}),
    ("whitespace_raw_variants", "a\n  {%+ raw %}R{% endraw %}\nb\n  {%- raw -%}\nS{%+ endraw +%}  \nc\n  {% raw %}T{%- endraw %}\nd", {}),
    ("whitespace_minus_on_comment_at_line_start", "a\n  {#- c #}\nb\n{# c -#}\n  c", {}),
    # errors (recorded: their type; raise_exception's message exactly)
    ("err_raise_exception", "a{{ raise_exception('Roles must alternate: user/assistant/...') }}b", {}),
    ("err_raise_exception_in_macro", "{% macro check(m) %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('Unknown role: ' ~ m.role) }}{% endif %}{% endmacro %}{% for m in messages %}{{ check(m) }}{% endfor %}", SYS_CHAT),
    ("err_undefined_attribute_of_undefined", "{{ undefined_var.attr }}", {}),
    ("err_undefined_item_of_undefined", "{{ undefined_var['k'] }}", {}),
    ("err_undefined_arith", "{{ undefined_var + 1 }}", {}),
    ("err_undefined_call", "{{ undefined_var() }}", {}),
    ("err_undefined_nested_attr", "{{ d.zz.yy }}", XS),
    ("err_division_by_zero", "{{ 1 / 0 }}", {}),
    ("err_floordiv_by_zero", "{{ 1 // 0 }}", {}),
    ("err_mod_by_zero", "{{ 1 % 0 }}", {}),
    ("err_str_plus_int", "{{ 'a' + 1 }}", {}),
    ("err_int_plus_str", "{{ 1 + 'a' }}", {}),
    ("err_concat_binds_tighter_than_plus", "{{ 'a' ~ 1 + 2 }}", {}),
    ("err_compare_types", "{{ 'a' < 1 }}", {}),
    ("err_iterate_none", "{% for x in none %}{% endfor %}", {}),
    ("err_iterate_int", "{% for x in 5 %}{% endfor %}", {}),
    ("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("err_not_callable", "{{ 'abc'() }}", {}),
    ("err_unknown_method", "{{ 'abc'.getClass() }}", {}),
    ("err_generator_length", "{{ [1, 2] | select | length }}", {}),
    ("err_tojson_undefined", "{{ undefined_var | tojson }}", {}),
    ("err_items_not_mapping", "{{ xs | items | list }}", XS),
    ("err_set_attr_on_dict", "{% set d2 = {} %}{% set d2.x = 1 %}", {}),
    ("err_syntax_unknown_tag", "{% frobnicate %}", {}),
    ("err_syntax_unclosed_if", "{% if true %}x", {}),
    ("err_syntax_unclosed_for", "{% for x in y %}x{% endif %}", {}),
    ("err_syntax_unclosed_var", "{{ x ", {}),
    ("err_syntax_unclosed_comment", "{# never closed", {}),
    ("err_syntax_bad_expression", "{{ 1 + }}", {}),
    ("err_syntax_unbalanced", "{{ (1 + 2 }}", {}),
    ("err_syntax_break_outside_loop", "{% break %}", {}),
    ("err_syntax_include", "{% include 'other.html' %}", {}),
    ("err_syntax_extends", "{% extends 'base.html' %}", {}),
    ("err_syntax_import", "{% import 'macros.html' as m %}", {}),
    ("err_syntax_empty_print", "{{ }}", {}),
    ("err_syntax_endfor_extra", "{% for x in [1] %}{% endfor x %}", {}),
    ("err_macro_too_many_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", {}),
    ("err_macro_unknown_kwarg", "{% macro m(a) %}{% endmacro %}{{ m(b=2) }}", {}),
    ("err_range_too_big", "{{ range(1000000) | length }}", {}),
    ("err_unsafe_mutation", "{{ d.update({'x': 1}) }}", XS),
    ("err_slice_step_zero", "{{ xs[::0] }}", XS),
    ("err_filter_unknown", "{{ 1 | no_such_filter }}", {}),
    ("err_test_unknown", "{{ 1 is no_such_test }}", {}),
    ("err_loop_in_for_filter", "{% for x in [1, 2] if loop.index > 1 %}{{ x }}{% endfor %}", {}),
    ("err_call_before_macro_defined", "{{ m() }}{% macro m() %}x{% endmacro %}", {}),
    ("err_triple_brace", "{{{ x }}}", {"x": 1}),
    ("err_raise_non_string", "{{ raise_exception(42) }}", {}),
    ("err_undefined_compare", "{% if undefined_var > 0 %}x{% endif %}", {}),
    ("err_undefined_iterate_attr", "{% for x in undefined_var.items() %}{% endfor %}", {}),
    ("err_none_plus", "{{ none + 1 }}", {}),
    ("err_int_attr_call", "{{ (1).foo() }}", {}),
    ("err_dictsort_list", "{{ [1, 2] | dictsort }}", {}),
    ("err_sort_mixed", "{{ [1, 'a'] | sort }}", {}),
    ("err_cycle_no_args", "{% for x in [1] %}{{ loop.cycle() }}{% endfor %}", {}),
    ("err_dictsort_none_values", "{{ {'a': none, 'b': 1} | dictsort(by='value') }}", {}),
    ("err_split_empty_sep", "{{ 'abc'.split('') }}", {}),
    ("err_percent_missing_args", "{{ '%s %s' % ('a',) }}", {}),
    ("err_percent_extra_args", "{{ '%s' % ('a', 'b') }}", {}),
    ("err_format_index", "{{ '{0} {1}'.format('a') }}", {}),
    ("err_namespace_attr_on_undefined", "{% set nope.x = 1 %}", {}),
    ("err_unpack_not_enough", "{% set a, b, c = [1, 2] %}", {}),
    ("err_last_of_generator", "{{ [1, 2] | select | last }}", {}),
    ("err_join_attribute_missing", "{{ [1, 2] | join(',', attribute='x') }}", {}),
]

cases = []


def add(name, template, context):
    case = {"name": name, "template": template, "context": context}
    try:
        case["expected"] = env.from_string(template).render(**context)
    except Raised as e:
        case.update(error=str(e), error_type="raise_exception", raised=True)
    except Exception as e:  # a syntax error, an undefined value misused, a type error...
        case.update(error=str(e), error_type=type(e).__name__, raised=False)
    cases.append(case)


for tname, template in MODEL_TEMPLATES.items():
    for cname, context in CHATS.items():
        add(f"{tname}/{cname}", template, context)
        if "add_generation_prompt" in context:
            add(f"{tname}/{cname}/no_prompt", template, dict(context, add_generation_prompt=not context["add_generation_prompt"]))
for name, template, context in MICRO:
    add(name, template, context)

names = [c["name"] for c in cases]
assert len(names) == len(set(names)), "case names must be unique"
json.dump({"jinja2": jinja2.__version__, "made_by": "models/src/test/python/make_template_conformance.py",
           "now": FIXED_NOW.isoformat(), "cases": cases}, open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
errors = [c for c in cases if "error" in c]
print(len(cases), "cases,", len(errors), "errors")
for c in errors:
    print(" ", c["name"], c["error_type"], c["error"][:100])
