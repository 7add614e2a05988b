package io.offload4j.samples.ragweb;

import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.WebRequest;
import org.springframework.web.servlet.mvc.method.annotation.ResponseEntityExceptionHandler;

/**
 * Errors as RFC 9457 problem details. What the caller can fix (a missing message, a prompt longer than the
 * model's context, a feature the model does not support) is a 400 with the reason; anything else is a 500 whose
 * detail still says what failed, and is logged. Spring MVC's own errors (unreadable JSON, a wrong content type)
 * keep their statuses through {@link ResponseEntityExceptionHandler}.
 */
@RestControllerAdvice
class ApiErrors extends ResponseEntityExceptionHandler {

    private static final Logger LOG = LoggerFactory.getLogger(ApiErrors.class);

    @ExceptionHandler({InvalidChatRequestException.class, InvalidRequestException.class,
            UnsupportedFeatureException.class})
    ProblemDetail badRequest(RuntimeException e) {
        return ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, describe(e));
    }

    @ExceptionHandler(RuntimeException.class)
    ProblemDetail failed(RuntimeException e) {
        LOG.error("Answering failed", e);
        return ProblemDetail.forStatusAndDetail(HttpStatus.INTERNAL_SERVER_ERROR, describe(e));
    }

    /** A chunked body that ran past {@link RequestGuard#MAX_BODY_BYTES} while the JSON parser read it: 413. */
    @Override
    protected ResponseEntity<Object> handleHttpMessageNotReadable(HttpMessageNotReadableException ex,
                                                                  HttpHeaders headers, HttpStatusCode status,
                                                                  WebRequest request) {
        for (Throwable t = ex; t != null; t = t.getCause()) {
            if (t instanceof RequestGuard.BodyTooLargeException tooLarge) {
                return ResponseEntity.status(HttpStatus.CONTENT_TOO_LARGE).header("Connection", "close")
                        .body(ProblemDetail.forStatusAndDetail(HttpStatus.CONTENT_TOO_LARGE, tooLarge.getMessage()
                                + "; a question is at most " + ChatRequest.MAX_MESSAGE_CHARS + " characters"));
            }
        }
        return super.handleHttpMessageNotReadable(ex, headers, status, request);
    }

    /** The status {@link #badRequest} or {@link #failed} gives {@code e}, for an answer that writes it itself. */
    static HttpStatus statusOf(RuntimeException e) {
        return e instanceof InvalidChatRequestException || e instanceof InvalidRequestException
                || e instanceof UnsupportedFeatureException ? HttpStatus.BAD_REQUEST : HttpStatus.INTERNAL_SERVER_ERROR;
    }

    /** The message a user sees: the exception's own (and its cause's, when the outer one only wraps it). */
    static String describe(Throwable e) {
        String message = e.getMessage();
        if ((message == null || message.isBlank()) && e.getCause() != null) {
            return describe(e.getCause());
        }
        return message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
    }
}
