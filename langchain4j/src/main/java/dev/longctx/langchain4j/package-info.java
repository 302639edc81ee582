/**
 * LangChain4j 1.19 chat models over a longctx serving engine, in process:
 * {@link dev.longctx.langchain4j.LongctxChatModel} and
 * {@link dev.longctx.langchain4j.LongctxStreamingChatModel}, built from a model path (they own the
 * model and an engine) or from an engine shared with other users (an HTTP server, other chat
 * models). Usable wherever LangChain4j takes a {@code ChatModel} or {@code StreamingChatModel}:
 * {@code AiServices}, Quarkus and Spring integrations.
 */
package dev.longctx.langchain4j;
