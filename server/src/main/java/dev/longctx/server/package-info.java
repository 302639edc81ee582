/**
 * An OpenAI-compatible HTTP server over a longctx serving engine
 * ({@link dev.longctx.server.OpenAiServer}, limits in {@link dev.longctx.server.ServerLimits}). The
 * other classes are package-private: request parsing, response shapes, streaming, errors.
 */
package dev.longctx.server;
