"""Makes models/src/test/resources/fixtures/chat-templates.json: chat templates in the styles real
checkpoints ship (ChatML as Qwen, Llama 3, Mistral [INST], Gemma, and one using namespace(),
loop.last and an inline if), rendered by Hugging Face transformers' apply_chat_template
(sandboxed jinja2 with trim_blocks and lstrip_blocks) for several conversations, with and
without the generation prompt; conversations a template rejects record the exception message.

Usage: python3 make_chat_templates.py <out.json>
"""
import json
import sys

import transformers
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

TEMPLATES = {
    "chatml": "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
              "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
              "{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}"
              "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}"
              "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
    "llama3": "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
              " + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}"
              "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
               "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
               "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
               "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
               "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "gemma": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
             "{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
             "{% else %}{% set role = message['role'] %}{% endif %}"
             "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
             "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
    "namespace": "{%- set ns = namespace(found=false) -%}\n{%- for m in messages -%}\n  {%- if m['role'] == 'system' -%}"
                 "{%- set ns.found = true -%}{%- endif -%}\n{%- endfor -%}\n{%- if not ns.found -%}{{- 'SYSTEM: default\\n' -}}"
                 "{%- endif -%}\n{%- for m in messages -%}\n  {{- m['role'] | upper + ': ' + m['content'] + ('\\n' if not loop.last "
                 "else '') -}}\n{%- endfor -%}\n{%- if add_generation_prompt %}\n{{ '\\nASSISTANT:' }}\n{%- endif %}",
}
CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "  What is 2+2? "},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?\nThanks."}],
    [{"role": "user", "content": "Ünïcödé 🙂 and <tags>"}, {"role": "assistant", "content": "Sure."},
     {"role": "user", "content": "Again"}],
]

tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()), bos_token="<s>", eos_token="</s>")
cases = []
for name, template in TEMPLATES.items():
    for conv in CONVERSATIONS:
        for gen in (False, True):
            case = {"template": name, "messages": conv, "add_generation_prompt": gen}
            try:
                case["rendered"] = tok.apply_chat_template(conv, chat_template=template, tokenize=False,
                                                           add_generation_prompt=gen)
            except Exception as e:  # the template raised (raise_exception) or failed
                case["error"] = str(e)
            cases.append(case)
json.dump({"transformers": transformers.__version__, "made_by": "models/src/test/python/make_chat_templates.py",
           "bos_token": "<s>", "eos_token": "</s>", "templates": TEMPLATES, "cases": cases},
          open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
print(len(cases), [c.get("error") for c in cases if "error" in c])
print(cases[3]["rendered"] if "rendered" in cases[3] else cases[3])
