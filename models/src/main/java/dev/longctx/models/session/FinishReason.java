package dev.longctx.models.session;

/** Why a generation ended. */
public enum FinishReason {
    /** The model produced one of the stop ids (by default its end-of-sequence ids). */
    EOS("eos"),
    /** The text came to contain one of the stop strings (the text is cut before it). */
    STOP_STRING("stop_string"),
    /** The requested number of tokens was generated. */
    LENGTH("length"),
    /** The caller cancelled the request. */
    CANCELLED("cancelled"),
    /** The context reached the model's length or the KV budget of a strategy that keeps every token. */
    CONTEXT_FULL("context_full"),
    /** The request's time limit passed (serving engine). */
    TIMEOUT("timeout");

    private final String label;

    FinishReason(String label) {
        this.label = label;
    }

    /** The lower-case name used in JSON output ({@code eos}, {@code stop_string}, {@code length}, ...). */
    public String label() {
        return label;
    }

    /** Whether the model chose to stop (a stop id or stop string), OpenAI's {@code "stop"}. */
    public boolean isStop() {
        return this == EOS || this == STOP_STRING;
    }
}
