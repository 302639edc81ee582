/**
 * Models: loaders, decoder and generation. Not implemented yet: see the models issues.
 */
package dev.longctx.models;
