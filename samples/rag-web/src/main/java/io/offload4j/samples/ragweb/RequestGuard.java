package io.offload4j.samples.ragweb;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * What every response gets and what every request may send, before any controller or JSON parser sees it:
 * <ul>
 *   <li>a request body of at most {@link #MAX_BODY_BYTES}: larger ones are refused with 413 before they are read
 *       (by their {@code Content-Length}, or, for a chunked body, as soon as the bytes read pass the limit), so a
 *       30 MB "question" costs nothing but the refusal, whatever the message check later would say;</li>
 *   <li>{@code X-Content-Type-Options: nosniff} and a Content-Security-Policy that lets the page load only its own
 *       script, style and API (the page has no inline script or style), and no framing.</li>
 * </ul>
 */
@Component
class RequestGuard extends OncePerRequestFilter {

    /**
     * A question is at most {@link ChatRequest#MAX_MESSAGE_CHARS} characters; as JSON with every character escaped
     * (a backslash, u and four hex digits: 6 bytes) plus a conversation id, that stays under this.
     */
    static final int MAX_BODY_BYTES = 32 * 1024;

    static final String CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self';"
            + " img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
            + " frame-ancestors 'none'";

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        response.setHeader("X-Content-Type-Options", "nosniff");
        response.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
        response.setHeader("Referrer-Policy", "no-referrer");
        long declared = request.getContentLengthLong();
        if (declared > MAX_BODY_BYTES) {
            tooLarge(response, declared + " bytes");
            return;
        }
        try {
            chain.doFilter(new LimitedRequest(request), response);
        } catch (BodyTooLargeException e) {
            if (!response.isCommitted()) {
                tooLarge(response, "more than " + MAX_BODY_BYTES + " bytes");
            }
        } catch (ServletException | RuntimeException e) {
            // Spring wraps what the parser's stream threw: find ours among the causes
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof BodyTooLargeException) {
                    if (!response.isCommitted()) {
                        tooLarge(response, "more than " + MAX_BODY_BYTES + " bytes");
                    }
                    return;
                }
            }
            throw e;
        }
    }

    private static void tooLarge(HttpServletResponse response, String size) throws IOException {
        response.setStatus(HttpServletResponse.SC_REQUEST_ENTITY_TOO_LARGE);
        response.setContentType("application/problem+json");
        response.setHeader("Connection", "close"); // the rest of the body is not read
        String detail = "the request body has " + size + "; at most " + MAX_BODY_BYTES + " are accepted (a question"
                + " is at most " + ChatRequest.MAX_MESSAGE_CHARS + " characters)";
        byte[] body = ("{\"type\":\"about:blank\",\"title\":\"Content Too Large\",\"status\":413,\"detail\":\""
                + detail + "\"}").getBytes(StandardCharsets.UTF_8);
        response.setContentLength(body.length);
        response.getOutputStream().write(body);
    }

    /** Thrown by the body's stream once more than the limit has been read. */
    static final class BodyTooLargeException extends IOException {
        BodyTooLargeException() {
            super("the request body is larger than " + MAX_BODY_BYTES + " bytes");
        }
    }

    /** The request with a body stream that fails past the limit (a chunked body announces no length). */
    private static final class LimitedRequest extends HttpServletRequestWrapper {
        private ServletInputStream limited;

        LimitedRequest(HttpServletRequest request) {
            super(request);
        }

        @Override
        public ServletInputStream getInputStream() throws IOException {
            if (limited == null) {
                limited = new LimitedStream(super.getInputStream());
            }
            return limited;
        }
    }

    private static final class LimitedStream extends ServletInputStream {
        private final ServletInputStream in;
        private long read;

        LimitedStream(ServletInputStream in) {
            this.in = in;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                count(1);
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = in.read(buffer, offset, length);
            if (n > 0) {
                count(n);
            }
            return n;
        }

        private void count(int n) throws BodyTooLargeException {
            read += n;
            if (read > MAX_BODY_BYTES) {
                throw new BodyTooLargeException();
            }
        }

        @Override
        public boolean isFinished() {
            return in.isFinished();
        }

        @Override
        public boolean isReady() {
            return in.isReady();
        }

        @Override
        public void setReadListener(ReadListener listener) {
            in.setReadListener(listener);
        }
    }
}
