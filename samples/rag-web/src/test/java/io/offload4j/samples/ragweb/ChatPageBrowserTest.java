package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.util.FileSystemUtils;

/**
 * The chat page in a real browser: Debian's headless Chromium driven through chromedriver. It types a question,
 * sends it, and watches the answer element: the text must arrive in several steps (token by token, as the SSE
 * events come), not all at once, and the statistics panel must show the engine's tokens/s.
 *
 * <p>Skipped with a message when {@code /usr/bin/chromium} or {@code /usr/bin/chromedriver} is missing (other paths:
 * {@code -Doffload4j.chromium=…} / {@code -Doffload4j.chromedriver=…}), unless the environment variable
 * {@code OFFLOAD4J_REQUIRE_BROWSER=true} (CI sets it) turns that into a failure.
 */
@Timeout(120)
@ExtendWith(ChatPageBrowserTest.BrowserPresent.class)
class ChatPageBrowserTest extends StoriesModelTest {

    private static Path profile;
    private static WebDriver browser;

    private static final File CHROMIUM = new File(System.getProperty("offload4j.chromium", "/usr/bin/chromium"));
    private static final File CHROMEDRIVER = new File(System.getProperty("offload4j.chromedriver",
            "/usr/bin/chromedriver"));
    private static final String REQUIRED = "OFFLOAD4J_REQUIRE_BROWSER";

    /** What is missing to run the browser, empty when nothing. */
    static List<String> missing() {
        List<String> missing = new ArrayList<>();
        if (!CHROMIUM.canExecute()) {
            missing.add(CHROMIUM + " (Debian package chromium)");
        }
        if (!CHROMEDRIVER.canExecute()) {
            missing.add(CHROMEDRIVER + " (Debian package chromium-driver)");
        }
        return missing;
    }

    static String missingMessage() {
        return "browser test needs " + String.join(" and ", missing())
                + "; install them with: apt-get install -y chromium chromium-driver";
    }

    /**
     * Skips the class, with the reason, when the browser is missing, unless {@value #REQUIRED}=true: then the test
     * runs and fails on the missing browser.
     */
    static final class BrowserPresent implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            if (missing().isEmpty() || "true".equals(System.getenv(REQUIRED))) {
                return ConditionEvaluationResult.enabled("chromium and chromedriver are present, or required");
            }
            return ConditionEvaluationResult.disabled("skipped: " + missingMessage());
        }
    }

    /** The browser, started on first use (so a skipped class starts nothing). */
    private static WebDriver browser() throws IOException {
        if (browser != null) {
            return browser;
        }
        if (!missing().isEmpty()) {
            fail(missingMessage() + " (" + REQUIRED + "=true makes this a failure)");
        }
        profile = Files.createTempDirectory("offload4j-chromium-");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM);
        // Headless without a sandbox (CI runs as root), and none of Chromium's own network traffic: the machine's
        // network is closed, and refused background connections only slow the browser down.
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--window-size=1280,900", "--user-data-dir=" + profile);
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER)
                .usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
        return browser;
    }

    @AfterAll
    static void stopBrowser() throws IOException {
        if (browser != null) {
            browser.quit();
        }
        if (profile != null) {
            FileSystemUtils.deleteRecursively(profile);
        }
    }

    @Test
    void theAnswerStreamsInTokenByToken() throws IOException {
        WebDriver browser = browser();
        browser.get(url("/"));
        WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(60));
        wait.until(d -> d.findElement(By.id("model")).getText().contains("context"));

        // Record the answer's length at every change the page makes to it, from inside the page.
        ((JavascriptExecutor) browser).executeScript("""
                window.answerLengths = [];
                new MutationObserver(() => {
                  const answers = document.querySelectorAll('#messages .assistant .answer');
                  if (answers.length) window.answerLengths.push(answers[answers.length - 1].textContent.length);
                }).observe(document.getElementById('messages'),
                           { childList: true, subtree: true, characterData: true });
                """);
        browser.findElement(By.id("question")).sendKeys("Which quantization formats can it run?");
        browser.findElement(By.id("send")).click();

        WebElement reply = wait.until(d -> d.findElement(By.cssSelector("#messages .assistant")));
        wait.until(d -> !"streaming".equals(reply.getDomAttribute("data-state")));

        saveScreenshot();
        assertThat(reply.getDomAttribute("data-state")).as(reply.getText()).isEqualTo("done");
        String answer = reply.findElement(By.className("answer")).getText();
        assertThat(answer).isNotBlank();
        @SuppressWarnings("unchecked")
        List<Long> lengths = (List<Long>) ((JavascriptExecutor) browser).executeScript("return window.answerLengths;");
        List<Long> distinct = lengths.stream().filter(n -> n > 0).distinct().toList();
        assertThat(distinct).as("answer lengths seen while streaming").hasSizeGreaterThanOrEqualTo(5)
                .isSorted();
        assertThat(reply.findElement(By.className("sources")).getText()).contains("supported-models.md");
        assertThat(reply.findElement(By.className("meta")).getText()).contains("tok/s");
        wait.until(d -> d.findElement(By.id("stat-decode")).getText().matches("[\\d.,]+ tok/s"));
        assertThat(browser.findElement(By.id("stat-prefix")).getText()).matches("[\\d,]+ / [\\d,]+");
    }

    /** The finished page as target/chat-page.png, to look at when this test fails. */
    private static void saveScreenshot() {
        try {
            byte[] png = ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES);
            Files.write(Path.of("target", "chat-page.png"), png);
        } catch (IOException | RuntimeException e) {
            System.err.println("could not save target/chat-page.png: " + e);
        }
    }
}
