package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
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
 * <p>Skipped with a message when {@code /usr/bin/chromium} or {@code /usr/bin/chromedriver} is missing (override
 * with {@code -Doffload4j.chromium=…} / {@code -Doffload4j.chromedriver=…}), unless the environment variable
 * {@code OFFLOAD4J_REQUIRE_BROWSER=true} (CI sets it) turns that into a failure.
 */
@Timeout(120)
class ChatPageBrowserTest extends StoriesModelTest {

    private static Path profile;
    private static WebDriver browser;

    @BeforeAll
    static void startBrowser() throws IOException {
        File chromium = new File(System.getProperty("offload4j.chromium", "/usr/bin/chromium"));
        File driver = new File(System.getProperty("offload4j.chromedriver", "/usr/bin/chromedriver"));
        List<String> missing = new ArrayList<>();
        if (!chromium.canExecute()) {
            missing.add(chromium + " (Debian package chromium)");
        }
        if (!driver.canExecute()) {
            missing.add(driver + " (Debian package chromium-driver)");
        }
        if (!missing.isEmpty()) {
            String message = "browser test needs " + String.join(" and ", missing)
                    + "; install them with: apt-get install -y chromium chromium-driver";
            if ("true".equals(System.getenv("OFFLOAD4J_REQUIRE_BROWSER"))) {
                fail(message + " (OFFLOAD4J_REQUIRE_BROWSER=true makes this a failure)");
            }
            assumeTrue(false, "skipped: " + message);
        }
        profile = Files.createTempDirectory("offload4j-chromium-");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium);
        // Headless without a sandbox (CI runs as root), and none of Chromium's own network traffic: the machine's
        // network is closed, and refused background connections only slow the browser down.
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--window-size=1280,900", "--user-data-dir=" + profile);
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(driver)
                .usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
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
    void theAnswerStreamsInTokenByToken() {
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
