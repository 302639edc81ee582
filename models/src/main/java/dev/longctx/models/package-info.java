/**
 * The front door: {@link dev.longctx.models.Model#open} opens a GGUF file, a Hugging Face folder
 * or a llama2.c checkpoint in one call and hands out sessions, one-shot generation and chat.
 * The packages below it are the lower-level API: readers ({@code gguf}, {@code safetensors},
 * {@code llama2c}), configs, the decoder, tokenizers and chat templates, and sessions.
 */
package dev.longctx.models;
