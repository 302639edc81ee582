/**
 * Tokenizers: Hugging Face {@code tokenizer.json} (byte-level BPE with split regexes, and
 * SentencePiece-style BPE with Metaspace and byte fallback), GGUF-embedded vocabularies
 * ({@code llama} and {@code gpt2}) and llama2.c {@code tokenizer.bin}; encoding, decoding and
 * streaming decoding that never splits a UTF-8 character.
 */
package dev.longctx.models.tokenizer;
