package io.offload4j.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The provider's one sentence of structure: arrows run {@code langchain4j → engine → offload → backend →
 * quant/model → gguf/safetensors}, with {@code chat} and {@code tokenizer} beside {@code engine}; no arrow from
 * {@code cuda} to {@code cpu} or back, none from {@code backend} up to {@code offload}. Each rule fails when a
 * forbidden import appears in the main classes.
 */
class DependencyRulesTest {

    private static final String ROOT = "io.offload4j.";
    private static JavaClasses classes;

    @BeforeAll
    static void importMainClasses() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.offload4j");
    }

    private static String[] packages(String... names) {
        String[] p = new String[names.length];
        for (int i = 0; i < names.length; i++) {
            p[i] = ROOT + names[i] + "..";
        }
        return p;
    }

    private static void check(ArchRule rule) {
        rule.check(classes);
    }

    /** The rules below could pass on nothing: this one must fail, because the CUDA device implements the SPI. */
    @Test
    void theRulesSeeTheCode() {
        ArchRule wrong = noClasses().that().resideInAPackage(ROOT + "backend.cuda..")
                .should().dependOnClassesThat().resideInAPackage(ROOT + "backend");
        AssertionError failure = assertThrows(AssertionError.class, () -> wrong.check(classes));
        assertTrue(failure.getMessage().contains("CudaBackend"), failure.getMessage());
        assertTrue(classes.size() > 200, "imported " + classes.size() + " classes");
    }

    @Test
    void fileFormatsKnowNothingAboveThem() {
        check(noClasses().that().resideInAnyPackage(packages("gguf", "safetensors"))
                .should().dependOnClassesThat().resideInAnyPackage(packages("quant", "model", "backend", "offload",
                        "engine", "langchain4j", "chat", "tokenizer", "hub")));
    }

    @Test
    void kernelsAndModelsKnowNoDevicesOrPolicy() {
        check(noClasses().that().resideInAnyPackage(packages("quant", "model"))
                .should().dependOnClassesThat().resideInAnyPackage(packages("backend", "offload", "engine",
                        "langchain4j", "chat", "tokenizer", "hub")));
    }

    @Test
    void devicesKnowNeitherOffloadingNorEachOther() {
        check(noClasses().that().resideInAnyPackage(packages("backend"))
                .should().dependOnClassesThat().resideInAnyPackage(packages("offload", "engine", "langchain4j",
                        "chat", "tokenizer", "hub")));
        check(noClasses().that().resideInAPackage(ROOT + "backend.cuda..")
                .should().dependOnClassesThat().resideInAPackage(ROOT + "backend.cpu.."));
        check(noClasses().that().resideInAPackage(ROOT + "backend.cpu..")
                .should().dependOnClassesThat().resideInAPackage(ROOT + "backend.cuda.."));
        check(noClasses().that().resideInAPackage(ROOT + "backend.cpu..")
                .should().dependOnClassesThat().resideInAPackage("jcuda.."));
    }

    @Test
    void devicesKnowNoCacheLibrary() {
        check(noClasses().that().resideInAnyPackage(packages("backend"))
                .should().dependOnClassesThat().resideInAPackage("com.github.benmanes.caffeine.."));
    }

    @Test
    void offloadingDrivesAcceleratorsThroughTheSpiOnly() {
        check(noClasses().that().resideInAnyPackage(packages("offload"))
                .should().dependOnClassesThat().resideInAnyPackage(ROOT + "backend.cuda..", "jcuda..",
                        ROOT + "engine..", ROOT + "langchain4j..", ROOT + "chat..", ROOT + "tokenizer..",
                        ROOT + "hub.."));
    }

    @Test
    void theEngineDealsInTokensAndDevices() {
        check(noClasses().that().resideInAnyPackage(packages("engine"))
                .should().dependOnClassesThat().resideInAnyPackage(packages("langchain4j", "chat",
                        "backend.cuda", "backend.cpu")));
    }

    @Test
    void chatAndTokenizerStayBesideTheEngine() {
        check(noClasses().that().resideInAnyPackage(packages("chat", "tokenizer"))
                .should().dependOnClassesThat().resideInAnyPackage(packages("engine", "langchain4j", "backend",
                        "offload", "hub")));
        check(noClasses().that().resideInAnyPackage(packages("tokenizer"))
                .should().dependOnClassesThat().resideInAnyPackage(packages("chat")));
    }

    /** Embeddings and re-ranking sit at the engine's level: models, passes and tokenizers, never a device's insides. */
    @Test
    void embeddingsUseThePassesNotTheDevices() {
        check(noClasses().that().resideInAnyPackage(packages("embedding"))
                .should().dependOnClassesThat().resideInAnyPackage(ROOT + "langchain4j..", ROOT + "chat..",
                        ROOT + "backend.cuda..", ROOT + "backend.cpu..", "jcuda.."));
        check(noClasses().that().resideInAnyPackage(packages("engine", "offload", "backend", "model", "tokenizer"))
                .should().dependOnClassesThat().resideInAnyPackage(ROOT + "embedding.."));
    }

    @Test
    void langchain4jUsesTheEngineNotTheDevices() {
        check(noClasses().that().resideInAnyPackage(packages("langchain4j"))
                .should().dependOnClassesThat().resideInAnyPackage(ROOT + "backend.cuda..", ROOT + "backend.cpu..",
                        "jcuda.."));
    }
}
