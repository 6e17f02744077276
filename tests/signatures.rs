//! The signature database: what it matches, what it must not match, how it rejects broken
//! files, and how `aigress signatures` presents it.

mod common;

use common::aigress;

use aigress::signatures::{Database, MatchSource};

/// (host name, vendor, endpoint, region named by the host)
#[rustfmt::skip]
const EXPECTED: &[(&str, &str, &str, Option<&str>)] = &[
    ("api.openai.com", "openai", "openai-api", None),
    ("eu.api.openai.com", "openai", "openai-api-eu", None),
    ("us.api.openai.com", "openai", "openai-api-us", None),
    ("jp.api.openai.com", "openai", "openai-api-jp", None),
    ("ae.api.openai.com", "openai", "openai-api-ae", None),
    ("platform.openai.com", "openai", "openai-platform", None),
    ("chatgpt.com", "openai", "chatgpt", None),
    ("ab.chatgpt.com", "openai", "chatgpt", None),
    ("chat.openai.com", "openai", "chatgpt-other-domains", None),
    ("ios.chat.openai.com", "openai", "chatgpt-other-domains", None),
    ("files.oaiusercontent.com", "openai", "chatgpt-other-domains", None),
    ("sora.chatgpt.com", "openai", "sora", None),
    ("sora.com", "openai", "sora", None),
    ("api.anthropic.com", "anthropic", "anthropic-api", None),
    ("console.anthropic.com", "anthropic", "anthropic-console", None),
    ("claude.ai", "anthropic", "claude", None),
    ("aws-external-anthropic.eu-central-1.api.aws", "anthropic", "anthropic-aws", Some("eu-central-1")),
    ("europe-west4-aiplatform.googleapis.com", "google", "vertex-ai-regional", Some("europe-west4")),
    ("us-central1-aiplatform.googleapis.com", "google", "vertex-ai-regional", Some("us-central1")),
    ("europe-west3-aiplatform.googleapis.com", "google", "vertex-ai-regional", Some("europe-west3")),
    ("asia-northeast1-aiplatform.googleapis.com", "google", "vertex-ai-regional", Some("asia-northeast1")),
    ("aiplatform.googleapis.com", "google", "vertex-ai", None),
    ("generativelanguage.googleapis.com", "google", "gemini-api", None),
    ("alkali.generativelanguage.googleapis.com", "google", "gemini-api", None),
    ("gemini.google.com", "google", "gemini", None),
    ("robinfrontend-pa.googleapis.com", "google", "gemini-other-hosts", None),
    ("aistudio.google.com", "google", "ai-studio", None),
    ("notebooklm.google.com", "google", "notebooklm", None),
    ("bedrock-runtime.eu-central-1.amazonaws.com", "amazon", "bedrock-runtime", Some("eu-central-1")),
    ("bedrock-runtime.us-east-1.amazonaws.com", "amazon", "bedrock-runtime", Some("us-east-1")),
    ("bedrock-runtime.eu-west-3.amazonaws.com", "amazon", "bedrock-runtime", Some("eu-west-3")),
    ("bedrock-runtime-fips.us-west-2.amazonaws.com", "amazon", "bedrock-runtime", Some("us-west-2")),
    ("bedrock.eu-north-1.amazonaws.com", "amazon", "bedrock", Some("eu-north-1")),
    ("q.us-east-1.amazonaws.com", "amazon", "amazon-q", Some("us-east-1")),
    ("codewhisperer.us-east-1.amazonaws.com", "amazon", "amazon-q", None),
    ("acme-eu.openai.azure.com", "microsoft", "azure-openai", None),
    ("contoso.services.ai.azure.com", "microsoft", "azure-ai-foundry", None),
    ("proj-resource.cognitiveservices.azure.com", "microsoft", "azure-ai-services", None),
    ("copilot.microsoft.com", "microsoft", "copilot", None),
    ("sydney.bing.com", "microsoft", "copilot-sydney", None),
    ("copilot-proxy.githubusercontent.com", "github", "github-copilot", None),
    ("api.individual.githubcopilot.com", "github", "github-copilot-individual", None),
    ("api.business.githubcopilot.com", "github", "github-copilot-business", None),
    ("copilot.github.com", "github", "github-copilot-site", None),
    ("api.deepseek.com", "deepseek", "deepseek-api", None),
    ("chat.deepseek.com", "deepseek", "deepseek-chat", None),
    ("api.x.ai", "xai", "xai-api", None),
    ("grok.com", "xai", "grok", None),
    ("api.mistral.ai", "mistral", "mistral-api", None),
    ("chat.mistral.ai", "mistral", "le-chat", None),
    ("llm-gateway.eu.assemblyai.com", "assemblyai", "assemblyai-llm-gateway-eu", None),
    ("llm-gateway.assemblyai.com", "assemblyai", "assemblyai-llm-gateway", None),
    ("dashscope.aliyuncs.com", "alibaba", "dashscope", None),
    ("chat.qwen.ai", "alibaba", "qwen-chat", None),
    ("ws-1a2b.ap-southeast-1.maas.aliyuncs.com", "alibaba", "model-studio-singapore", None),
    ("dashscope-us.aliyuncs.com", "alibaba", "model-studio-virginia", None),
    ("ws-1a2b.cn-hongkong.maas.aliyuncs.com", "alibaba", "model-studio-hong-kong", None),
    ("bailian.ap-southeast-1.aliyuncs.com", "alibaba", "bailian-api", Some("ap-southeast-1")),
    ("ark.cn-beijing.volces.com", "bytedance", "volcengine-ark", None),
    ("www.doubao.com", "bytedance", "doubao", None),
    ("api.hunyuan.cloud.tencent.com", "tencent", "hunyuan-api", None),
    ("yuanbao.tencent.com", "tencent", "yuanbao", None),
    ("yiyan.baidu.com", "baidu", "ernie-yiyan", None),
    ("kimi.moonshot.cn", "moonshot", "kimi-moonshot-cn", None),
    ("www.kimi.com", "moonshot", "kimi", None),
    ("chatglm.cn", "zhipu", "chatglm", None),
    ("chat.z.ai", "zhipu", "zai-chat", None),
    ("api.minimax.io", "minimax", "minimax", None),
    ("hailuoai.video", "minimax", "hailuo", None),
    ("api.together.xyz", "together", "together", None),
    ("api.groq.com", "groq", "groq", None),
    ("api.fireworks.ai", "fireworks", "fireworks", None),
    ("openrouter.ai", "openrouter", "openrouter", None),
    ("router.huggingface.co", "huggingface", "huggingface-inference-providers", None),
    ("api-inference.huggingface.co", "huggingface", "huggingface-inference-providers", None),
    ("my-space.hf.space", "huggingface", "huggingface-spaces", None),
    ("api.cerebras.ai", "cerebras", "cerebras-api", None),
    ("api.tokenfactory.nebius.com", "nebius", "nebius-token-factory", None),
    ("api.deepinfra.com", "deepinfra", "deepinfra", None),
    ("llm.chutes.ai", "chutes", "chutes", None),
    ("api.scaleway.ai", "scaleway", "scaleway-genai", None),
    ("api.cohere.com", "cohere", "cohere", None),
    ("api.cohere.ai", "cohere", "cohere", None),
    ("api.perplexity.ai", "perplexity", "perplexity-api", None),
    ("www.perplexity.ai", "perplexity", "perplexity", None),
    ("api.elevenlabs.io", "elevenlabs", "elevenlabs", None),
    ("api.deepl.com", "deepl", "deepl-api-pro", None),
    ("api-free.deepl.com", "deepl", "deepl-api-free", None),
    ("www.meta.ai", "meta", "meta-ai", None),
    ("firefly.adobe.com", "adobe", "firefly", None),
    ("www.firefly.adobe.com", "adobe", "firefly", None),
    ("augmentcode.com", "augment", "augment", None),
    ("www.augmentcode.com", "augment", "augment", None),
    ("base44.com", "base44", "base44", None),
    ("www.base44.com", "base44", "base44", None),
    ("bfl.ai", "bfl", "bfl", None),
    ("www.bfl.ai", "bfl", "bfl", None),
    ("bfl.ml", "bfl", "bfl-ml", None),
    ("bolt.new", "bolt", "bolt", None),
    ("www.bolt.new", "bolt", "bolt", None),
    ("caktus.ai", "caktus", "caktus", None),
    ("www.caktus.ai", "caktus", "caktus", None),
    ("candy.ai", "candy", "candy", None),
    ("www.candy.ai", "candy", "candy", None),
    ("chai-research.com", "chai", "chai", None),
    ("www.chai-research.com", "chai", "chai", None),
    ("chai.ml", "chai", "chai-other-domains", None),
    ("character.ai", "character", "character", None),
    ("www.character.ai", "character", "character", None),
    ("c.ai", "character", "character-short-domain", None),
    ("chatpdf.com", "chatpdf", "chatpdf", None),
    ("www.chatpdf.com", "chatpdf", "chatpdf", None),
    ("civitai.com", "civitai", "civitai", None),
    ("www.civitai.com", "civitai", "civitai", None),
    ("codeium.com", "codeium", "codeium", None),
    ("www.codeium.com", "codeium", "codeium", None),
    ("consensus.app", "consensus", "consensus", None),
    ("www.consensus.app", "consensus", "consensus", None),
    ("continue.dev", "continue", "continue", None),
    ("www.continue.dev", "continue", "continue", None),
    ("copy.ai", "copy-ai", "copy-ai", None),
    ("www.copy.ai", "copy-ai", "copy-ai", None),
    ("cursor.com", "cursor", "cursor", None),
    ("www.cursor.com", "cursor", "cursor", None),
    ("cursor.sh", "cursor", "cursor", None),
    ("devin.ai", "cognition", "devin", None),
    ("www.devin.ai", "cognition", "devin", None),
    ("duck.ai", "duckduckgo", "duck-ai", None),
    ("www.duck.ai", "duckduckgo", "duck-ai", None),
    ("elicit.com", "elicit", "elicit", None),
    ("www.elicit.com", "elicit", "elicit", None),
    ("factory.ai", "factory", "factory", None),
    ("www.factory.ai", "factory", "factory", None),
    ("fireflies.ai", "fireflies", "fireflies", None),
    ("www.fireflies.ai", "fireflies", "fireflies", None),
    ("gamma.app", "gamma", "gamma", None),
    ("www.gamma.app", "gamma", "gamma", None),
    ("gauthmath.com", "gauth", "gauth", None),
    ("www.gauthmath.com", "gauth", "gauth", None),
    ("genspark.ai", "genspark", "genspark", None),
    ("www.genspark.ai", "genspark", "genspark", None),
    ("heygen.com", "heygen", "heygen", None),
    ("www.heygen.com", "heygen", "heygen", None),
    ("higgsfield.ai", "higgsfield", "higgsfield", None),
    ("www.higgsfield.ai", "higgsfield", "higgsfield", None),
    ("humata.ai", "humata", "humata", None),
    ("www.humata.ai", "humata", "humata", None),
    ("ideogram.ai", "ideogram", "ideogram", None),
    ("www.ideogram.ai", "ideogram", "ideogram", None),
    ("janitorai.com", "janitorai", "janitorai", None),
    ("www.janitorai.com", "janitorai", "janitorai", None),
    ("janitorai.io", "janitorai", "janitorai", None),
    ("jasper.ai", "jasper", "jasper", None),
    ("www.jasper.ai", "jasper", "jasper", None),
    ("jenni.ai", "jenni", "jenni", None),
    ("www.jenni.ai", "jenni", "jenni", None),
    ("kindroid.ai", "kindroid", "kindroid", None),
    ("www.kindroid.ai", "kindroid", "kindroid", None),
    ("klingai.com", "kuaishou", "kling", None),
    ("www.klingai.com", "kuaishou", "kling", None),
    ("kling.ai", "kuaishou", "kling-ai-domain", None),
    ("krea.ai", "krea", "krea", None),
    ("www.krea.ai", "krea", "krea", None),
    ("leonardo.ai", "leonardo", "leonardo", None),
    ("www.leonardo.ai", "leonardo", "leonardo", None),
    ("lmarena.ai", "lmarena", "lmarena", None),
    ("www.lmarena.ai", "lmarena", "lmarena", None),
    ("lmsys.org", "lmarena", "lmarena", None),
    ("lovable.dev", "lovable", "lovable", None),
    ("www.lovable.dev", "lovable", "lovable", None),
    ("lumalabs.ai", "luma", "luma", None),
    ("www.lumalabs.ai", "luma", "luma", None),
    ("magnific.ai", "magnific", "magnific-ai-domain", None),
    ("www.magnific.ai", "magnific", "magnific-ai-domain", None),
    ("magnific.com", "magnific", "magnific", None),
    ("manus.im", "manus", "manus", None),
    ("www.manus.im", "manus", "manus", None),
    ("midjourney.com", "midjourney", "midjourney", None),
    ("www.midjourney.com", "midjourney", "midjourney", None),
    ("monica.im", "monica", "monica", None),
    ("www.monica.im", "monica", "monica", None),
    ("napkin.ai", "napkin", "napkin", None),
    ("www.napkin.ai", "napkin", "napkin", None),
    ("nomi.ai", "nomi", "nomi", None),
    ("www.nomi.ai", "nomi", "nomi", None),
    ("novelai.net", "novelai", "novelai", None),
    ("www.novelai.net", "novelai", "novelai", None),
    ("otter.ai", "otter", "otter", None),
    ("www.otter.ai", "otter", "otter", None),
    ("phind.com", "phind", "phind", None),
    ("www.phind.com", "phind", "phind", None),
    ("photomath.com", "photomath", "photomath", None),
    ("www.photomath.com", "photomath", "photomath", None),
    ("photomath.net", "photomath", "photomath-net", None),
    ("pi.ai", "inflection", "pi", None),
    ("www.pi.ai", "inflection", "pi", None),
    ("pika.art", "pika", "pika", None),
    ("www.pika.art", "pika", "pika", None),
    ("pixverse.ai", "pixverse", "pixverse", None),
    ("www.pixverse.ai", "pixverse", "pixverse", None),
    ("playground.com", "playground", "playground", None),
    ("www.playground.com", "playground", "playground", None),
    ("playgroundai.com", "playground", "playground", None),
    ("poe.com", "quora", "poe", None),
    ("www.poe.com", "quora", "poe", None),
    ("quillbot.com", "quillbot", "quillbot", None),
    ("www.quillbot.com", "quillbot", "quillbot", None),
    ("recraft.ai", "recraft", "recraft", None),
    ("www.recraft.ai", "recraft", "recraft", None),
    ("replika.com", "replika", "replika", None),
    ("www.replika.com", "replika", "replika", None),
    ("replika.ai", "replika", "replika", None),
    ("runwayml.com", "runway", "runway", None),
    ("www.runwayml.com", "runway", "runway", None),
    ("runway.com", "runway", "runway-com", None),
    ("rytr.me", "rytr", "rytr", None),
    ("www.rytr.me", "rytr", "rytr", None),
    ("sider.ai", "sider", "sider", None),
    ("www.sider.ai", "sider", "sider", None),
    ("sourcegraph.com", "sourcegraph", "cody", None),
    ("www.sourcegraph.com", "sourcegraph", "cody", None),
    ("stability.ai", "stability", "stability", None),
    ("www.stability.ai", "stability", "stability", None),
    ("dreamstudio.ai", "stability", "stability", None),
    ("sudowrite.com", "sudowrite", "sudowrite", None),
    ("www.sudowrite.com", "sudowrite", "sudowrite", None),
    ("suno.com", "suno", "suno-com", None),
    ("www.suno.com", "suno", "suno-com", None),
    ("suno.ai", "suno", "suno", None),
    ("synthesia.io", "synthesia", "synthesia", None),
    ("www.synthesia.io", "synthesia", "synthesia", None),
    ("tabnine.com", "tabnine", "tabnine", None),
    ("www.tabnine.com", "tabnine", "tabnine", None),
    ("talkie-ai.com", "talkie", "talkie", None),
    ("www.talkie-ai.com", "talkie", "talkie", None),
    ("talkie-ai.app", "talkie", "talkie", None),
    ("udio.com", "udio", "udio", None),
    ("www.udio.com", "udio", "udio", None),
    ("undetectable.ai", "undetectable", "undetectable", None),
    ("www.undetectable.ai", "undetectable", "undetectable", None),
    ("v0.dev", "vercel", "v0", None),
    ("www.v0.dev", "vercel", "v0", None),
    ("v0.app", "vercel", "v0", None),
    ("vidu.com", "shengshu", "vidu", None),
    ("www.vidu.com", "shengshu", "vidu", None),
    ("vidu.cn", "shengshu", "vidu", None),
    ("windsurf.com", "windsurf", "windsurf", None),
    ("www.windsurf.com", "windsurf", "windsurf", None),
    ("wordtune.com", "ai21", "wordtune", None),
    ("www.wordtune.com", "ai21", "wordtune", None),
    ("writesonic.com", "writesonic", "writesonic", None),
    ("www.writesonic.com", "writesonic", "writesonic", None),
    ("you.com", "you", "you", None),
    ("www.you.com", "you", "you", None),
    ("api.moonshot.cn", "moonshot", "moonshot-api-china", None),
    ("grazie.ai", "jetbrains", "jetbrains-ai", None),
    ("api.app.prod.grazie.aws.intellij.net", "jetbrains", "jetbrains-ai", None),
    ("api.moonshot.ai", "moonshot", "moonshot-api", None),
    ("open.bigmodel.cn", "zhipu", "bigmodel-api", None),
    ("dashscope-intl.aliyuncs.com", "alibaba", "dashscope-intl", None),
    ("cn-hongkong.dashscope.aliyuncs.com", "alibaba", "dashscope-hong-kong", None),
    ("qianfan.baidubce.com", "baidu", "qianfan-api", None),
    ("api.deepgram.com", "deepgram", "deepgram-api", None),
    ("api.eu.deepgram.com", "deepgram", "deepgram-api-eu", None),
    ("api.au.deepgram.com", "deepgram", "deepgram-api-au", None),
    ("api.in.deepgram.com", "deepgram", "deepgram-api-in", None),
    ("eu-de.ml.cloud.ibm.com", "ibm", "watsonx-ai", Some("eu-de")),
    ("us-south.ml.cloud.ibm.com", "ibm", "watsonx-ai", Some("us-south")),
    ("ap-south-1.aws.wxai.ibm.com", "ibm", "watsonx-ai-mumbai", None),
    (
        "inference.generativeai.eu-frankfurt-1.oci.oraclecloud.com",
        "oracle",
        "oci-generative-ai",
        Some("eu-frankfurt-1"),
    ),
    (
        "inference.generativeai.us-chicago-1.oci.oraclecloud.com",
        "oracle",
        "oci-generative-ai",
        Some("us-chicago-1"),
    ),
    (
        "inference.generativeai.eu-frankfurt-2.oci.oraclecloud.eu",
        "oracle",
        "oci-generative-ai-eu-sovereign",
        None,
    ),
];

#[test]
fn the_built_in_database_classifies_every_listed_host() {
    let db = Database::embedded().expect("valid");
    assert!(EXPECTED.len() >= 150);
    let mut wrong = Vec::new();
    for (host, vendor, endpoint, region) in EXPECTED {
        let got = db.classify_host(host, MatchSource::Query);
        let ok = got.as_ref().is_some_and(|ai| {
            ai.vendor == *vendor && ai.endpoint == *endpoint && ai.region.as_deref() == *region
        });
        if !ok {
            wrong.push(format!(
                "{host}: want {vendor}/{endpoint}/{region:?}, got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn regional_names_resolve_to_the_country_of_their_region() {
    let db = Database::embedded().expect("valid");
    let country = |host: &str| {
        db.classify_host(host, MatchSource::Sni)
            .and_then(|ai| ai.region_country)
    };
    assert_eq!(
        country("bedrock-runtime.eu-central-1.amazonaws.com").as_deref(),
        Some("DE")
    );
    assert_eq!(
        country("bedrock-runtime.eu-west-1.amazonaws.com").as_deref(),
        Some("IE")
    );
    assert_eq!(
        country("bedrock-runtime.us-west-2.amazonaws.com").as_deref(),
        Some("US")
    );
    assert_eq!(
        country("europe-west4-aiplatform.googleapis.com").as_deref(),
        Some("NL")
    );
    assert_eq!(
        country("europe-west9-aiplatform.googleapis.com").as_deref(),
        Some("FR")
    );
    assert_eq!(country("eu-de.ml.cloud.ibm.com").as_deref(), Some("DE"));
    assert_eq!(country("jp-tok.ml.cloud.ibm.com").as_deref(), Some("JP"));
    assert_eq!(
        country("inference.generativeai.eu-frankfurt-1.oci.oraclecloud.com").as_deref(),
        Some("DE")
    );
    assert_eq!(
        country("inference.generativeai.uk-london-1.oci.oraclecloud.com").as_deref(),
        Some("GB")
    );
    // A region the table does not know still names the region, without a country.
    let unknown = db
        .classify_host(
            "bedrock-runtime.xx-nowhere-9.amazonaws.com",
            MatchSource::Sni,
        )
        .expect("matches the pattern");
    assert_eq!(unknown.region.as_deref(), Some("xx-nowhere-9"));
    assert_eq!(unknown.region_country, None);
    let eu = db
        .classify_host("eu.api.openai.com", MatchSource::Sni)
        .expect("match");
    assert_eq!(eu.processing.as_deref(), Some("EU"));
}

#[test]
fn lookalikes_do_not_match() {
    let db = Database::embedded().expect("valid");
    for host in [
        "notopenai.com",
        "openai.com.evil.example",
        "api.openai.com.example.net",
        "chatgpt.com.attacker.io",
        "xchatgpt.com",
        "claude.ai.phish.net",
        "myclaude.ai",
        "anthropic.com.example",
        "fakehuggingface.co",
        "huggingface.co.uk",
        "openai.azure.com.evil",
        "bedrock-runtime.eu-central-1.amazonaws.com.evil.net",
        "bedrock-runtime..amazonaws.com",
        "-aiplatform.googleapis.com",
        "aiplatform.googleapis.com.cn",
        "cursor.com.example",
        "notcursor.com",
        "githubcopilot.community",
        "example.com",
        "s3.eu-west-1.amazonaws.com",
        "www.wikipedia.org",
        "",
        ".",
    ] {
        assert_eq!(db.classify_host(host, MatchSource::Query), None, "{host:?}");
    }
    assert_eq!(db.classify_ip("160.79.106.1".parse().unwrap()), None);
    assert!(db.classify_ip("160.79.105.255".parse().unwrap()).is_some());
    assert!(db.classify_ip("2607:6bc0::1".parse().unwrap()).is_some());
}

fn vendor_file(endpoints: &str) -> Vec<(String, String)> {
    vec![
        (
            "database.toml".into(),
            "version = \"t\"\ndate = \"2026-01-01\"\n".into(),
        ),
        (
            "regions.toml".into(),
            "[aws]\nsource = \"https://example.com/regions\"\n[aws.regions]\nus-east-1 = \"US\"\n"
                .into(),
        ),
        (
            "acme.toml".into(),
            format!("[vendor]\nid = \"acme\"\nname = \"Acme\"\n\n{endpoints}"),
        ),
    ]
}

fn endpoint(id: &str, hosts: &str) -> String {
    format!(
        "[[endpoints]]\nid = \"{id}\"\nproduct = \"P\"\nkind = \"api\"\nhosts = {hosts}\n\
source = \"https://example.com/docs\"\n"
    )
}

/// A plan `p` with a training fact whose fields are `fact` (TOML lines), and an endpoint
/// `a` that serves it.
fn planned(fact: &str) -> String {
    format!(
        "[[plans]]\nid = \"p\"\nname = \"Pro\"\n\n[plans.training]\n{fact}\n{}plans = [\"p\"]\n",
        endpoint("a", r#"["a.acme.com"]"#)
    )
}

const STATED_NO: &str = "value = \"no\"\nbasis = \"stated\"\nsource = \"https://example.com/terms\"\nread = \"2026-01-01\"";

fn problems(files: &[(String, String)]) -> String {
    Database::from_files(files)
        .expect_err("invalid")
        .to_string()
}

#[test]
fn loader_errors_name_file_line_entry_and_problem() {
    let cases: Vec<(String, &str)> = vec![
        (
            endpoint("a", r#"["API.acme.com"]"#),
            "acme.toml:9: a: host \"API.acme.com\" must be lower case",
        ),
        (endpoint("a", r#"["api.acme.com."]"#), "ends with a dot"),
        (
            endpoint("a", r#"["api.*.acme.com"]"#),
            "a wildcard must be the whole leftmost label",
        ),
        (
            endpoint("a", r#"["*api.acme.com"]"#),
            "a wildcard must be the whole leftmost label",
        ),
        (endpoint("a", r#"["acme"]"#), "is a single label"),
        (
            endpoint("a", r#"["x.{region}.acme.com"]"#),
            "needs `regions = \"<table>\"`",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#) + &endpoint("a", r#"["b.acme.com"]"#),
            "duplicate endpoint id",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#) + &endpoint("b", r#"["a.acme.com"]"#),
            "is also in endpoint a",
        ),
        (
            planned(&STATED_NO.replace("source = \"https://example.com/terms\"\n", "")),
            "missing field `source`",
        ),
        (
            planned(&STATED_NO.replace("\"stated\"", "\"inferred\"")),
            "acme/p: training is inferred: say why in training.reasoning",
        ),
        (
            planned(&format!("{STATED_NO}\nreasoning = \"because\"")),
            "reasoning belongs to inferred facts",
        ),
        (
            planned(&STATED_NO.replace("2026-01-01", "2026-02-30")),
            "training.read \"2026-02-30\" is not a date",
        ),
        (
            planned(&STATED_NO.replace("\"no\"", "\"unknown\"")),
            "training unknown is no fact",
        ),
        (
            planned(STATED_NO).replace("plans = [\"p\"]", "plans = [\"q\"]"),
            "plan \"q\" is not in this file's [[plans]]",
        ),
        (
            planned(STATED_NO).replace("plans = [\"p\"]\n", ""),
            "plan \"p\" is served by no endpoint",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#)
                + &format!(
                    "\n[endpoints.processing]\n{}",
                    STATED_NO.replace("\"no\"", "\"Europe\"")
                ),
            "processing \"Europe\" must be a country code or EU",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#).replace("kind = \"api\"", "kind = \"robot\""),
            "unknown variant `robot`",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#) + "colour = \"red\"\n",
            "unknown field `colour`",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#).replace("https://example.com/docs", "example.com"),
            "source must be an https URL",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#) + "trains_on_inputs = \"no\"\n",
            "unknown field `trains_on_inputs`",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#)
                + "cidrs = [\"10.0.0.1/8\"]\ncidr_source = \"https://example.com/ips\"\n",
            "has host bits set",
        ),
        (
            endpoint("a", r#"["a.acme.com"]"#)
                + "cidrs = [\"banana\"]\ncidr_source = \"https://example.com/ips\"\n",
            "is not a CIDR",
        ),
    ];
    for (body, want) in cases {
        let got = problems(&vendor_file(&body));
        assert!(got.contains(want), "want {want:?} in:\n{got}");
    }
}

#[test]
fn a_wildcard_of_one_vendor_may_not_cover_another_vendors_host() {
    let mut files = vendor_file(&endpoint("acme-api", r#"["*.shared.example"]"#));
    files.push((
        "other.toml".into(),
        format!(
            "[vendor]\nid = \"other\"\nname = \"Other\"\n\n{}",
            endpoint("other-api", r#"["api.shared.example"]"#)
        ),
    ));
    let got = problems(&files);
    assert!(got.contains("other.toml:"), "{got}");
    assert!(
        got.contains("overlaps *.shared.example of endpoint acme-api (another vendor)"),
        "{got}"
    );
}

#[test]
fn the_database_meets_its_coverage_and_sourcing_floor() {
    let db = Database::embedded().expect("valid");
    assert!(db.vendors.len() >= 80, "{} vendors", db.vendors.len());
    assert!(db.pattern_count() >= 300, "{} patterns", db.pattern_count());
    for e in &db.endpoints {
        assert!(e.source.starts_with("https://"), "{}", e.id);
    }
    assert!(!db.version.is_empty() && !db.date.is_empty());
}

#[test]
fn match_prints_one_json_object_per_argument() {
    let out = aigress(&[
        "signatures",
        "match",
        "--format",
        "json",
        "api.anthropic.com",
        "example.org",
    ]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["query"], "api.anthropic.com");
    assert_eq!(lines[0]["ai"]["vendor"], "anthropic");
    assert_eq!(lines[0]["ai"]["trains_on_inputs"], "no");
    assert_eq!(lines[0]["ai"]["match_source"], "query");
    assert_eq!(lines[1]["query"], "example.org");
    assert!(lines[1]["ai"].is_null());
}

#[test]
fn list_filters_by_vendor_and_rejects_unknown_vendors() {
    let out = aigress(&[
        "signatures",
        "list",
        "--vendor",
        "openai",
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().count() >= 5);
    assert!(text.lines().all(|l| l.contains("\"vendor\":\"openai\"")));
    let bad = aigress(&["signatures", "list", "--vendor", "nobody"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn check_reports_problems_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in vendor_file(&endpoint("a", r#"["API.acme.com"]"#)) {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = aigress(&["signatures", "check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("acme.toml:9: a: host"));
    let ok = aigress(&["signatures", "check"]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: signature database"));
}

#[test]
fn scan_can_use_another_database() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in vendor_file(&endpoint("groq-lookalike", r#"["api.groq.com"]"#)) {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let cap = common::captures_dir().join("ai-clients__b_python_sdks.pcap");
    let out = aigress(&[
        "--signatures",
        dir.path().to_str().unwrap(),
        "scan",
        "-f",
        "json",
        cap.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"vendor\":\"acme\""));
    assert!(
        !text.contains("\"vendor\":\"openai\""),
        "the built-in database is replaced"
    );
}

#[test]
fn real_ai_client_traffic_is_classified() {
    let events =
        common::scan_events(&common::captures_dir().join("ai-clients__b_python_sdks.pcap"));
    let vendor_of = |sni: &str| {
        events
            .iter()
            .find(|e| e["event_type"] == "tls" && e["tls"]["sni"] == sni)
            .map(|e| e["ai"]["vendor"].clone())
    };
    assert_eq!(vendor_of("api.openai.com"), Some("openai".into()));
    assert_eq!(vendor_of("api.anthropic.com"), Some("anthropic".into()));
    assert_eq!(
        vendor_of("bedrock-runtime.eu-west-1.amazonaws.com"),
        Some("amazon".into())
    );
    assert_eq!(
        vendor_of("s3.eu-west-1.amazonaws.com"),
        Some(serde_json::Value::Null)
    );
    let dns_ai = events
        .iter()
        .filter(|e| e["event_type"] == "dns" && e["ai"]["match_source"] == "dns_query")
        .count();
    assert!(dns_ai >= 10, "{dns_ai} DNS lookups of AI names");
    let flow = events
        .iter()
        .find(|e| e["event_type"] == "flow" && e["flow"]["sni"] == "api.openai.com")
        .expect("flow record");
    assert_eq!(flow["ai"]["match_source"], "sni");
}

#[test]
fn check_warns_about_facts_read_too_long_ago() {
    let dir = tempfile::tempdir().unwrap();
    let files = vendor_file(&planned(&STATED_NO.replace("2026-01-01", "2020-01-31")));
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let stale = aigress(&["signatures", "check", d]);
    assert!(stale.status.success(), "a warning is not a failure");
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(
        err.contains("acme: 1 facts read more than 365 days ago: p training (read 2020-01-31)"),
        "{err}"
    );
    let fresh = aigress(&["signatures", "check", "--max-age-days", "100000", d]);
    let err = String::from_utf8_lossy(&fresh.stderr);
    assert!(!err.contains("warning"), "{err}");
    assert!(
        err.contains("1 facts: 0 inferred, 1 without the words they rest on"),
        "{err}"
    );
}

/// The facts the database ships: every one says whether its source states it or it is
/// inferred (and why), where the source is and when it was read, and none was read
/// longer ago than `signatures check` accepts.
#[test]
fn every_shipped_fact_has_its_basis_source_and_a_recent_date() {
    const MAX_AGE_DAYS: u64 = 365;
    let db = Database::embedded().expect("built-in database");
    let facts = db.facts();
    assert!(facts.len() >= 300, "{} facts", facts.len());
    let now = std::time::SystemTime::now();
    for f in &facts {
        let what = format!("{}: {} {}", f.vendor.id, f.subject, f.field);
        assert!(f.grounds.source.starts_with("https://"), "{what}");
        let read = aigress::signatures::load::checked_date(f.grounds.read)
            .unwrap_or_else(|| panic!("{what}: read {:?}", f.grounds.read));
        let age = now.duration_since(read).unwrap_or_default();
        assert!(
            age.as_secs() / 86_400 <= MAX_AGE_DAYS,
            "{what}: read {}, more than {MAX_AGE_DAYS} days ago",
            f.grounds.read
        );
        if let Some(page) = f.grounds.page_date {
            assert!(
                page <= f.grounds.read,
                "{what}: page dated after it was read"
            );
        }
    }
    let out = aigress(&["signatures", "list", "--format", "json"]);
    assert!(out.status.success());
    let mut checked = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut facts: Vec<&serde_json::Value> = Vec::new();
        for plan in entry["plans"].as_array().unwrap() {
            for field in ["training", "retention", "eu_residency"] {
                facts.extend(plan.get(field));
            }
        }
        facts.extend(entry.get("dpa_sccs"));
        for fact in facts {
            let basis = fact["basis"].as_str().unwrap_or_default();
            assert!(basis == "stated" || basis == "inferred", "{entry}");
            assert!(
                fact["source"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("https://"))
            );
            assert!(fact["read"].as_str().is_some_and(|d| d.len() == 10));
            if basis == "inferred" {
                assert!(fact["reasoning"].as_str().is_some_and(|r| !r.is_empty()));
            }
            checked += 1;
        }
    }
    assert!(checked >= 300, "{checked} facts in the list");
}

#[test]
fn a_vendor_level_name_yields_to_a_product_of_the_same_vendor_only() {
    let db = common::database();
    let pick = |sni: &str, dns: &str| {
        db.classify_names([
            (Some(sni), MatchSource::Sni),
            (Some(dns), MatchSource::DnsName),
        ])
        .map(|ai| (ai.endpoint, ai.kind))
    };
    assert_eq!(
        pick("files.openai.com", "api.openai.com"),
        Some(("openai-api".to_owned(), "api")),
        "the address DNS gave says which product"
    );
    assert_eq!(
        pick("files.openai.com", "api.anthropic.com"),
        Some(("openai-other".to_owned(), "vendor_other")),
        "another vendor's name never overrides the SNI's vendor"
    );
    assert_eq!(
        pick("api.openai.com", "files.openai.com"),
        Some(("openai-api".to_owned(), "api")),
    );
}

#[test]
fn hosts_that_rest_only_on_a_third_party_list_say_so() {
    let db = common::database();
    let by = |host: &str| {
        db.classify_host(host, MatchSource::Sni)
            .map(|ai| ai.host_evidence)
    };
    assert_eq!(by("api.openai.com"), Some("vendor"));
    let listed = db
        .endpoints
        .iter()
        .find(|e| e.host_evidence.as_str() == "third_party_list")
        .expect("some endpoints still rest on a list");
    let exact = listed
        .hosts
        .iter()
        .find(|h| !h.contains(['*', '{']))
        .expect("an exact host");
    assert_eq!(by(exact), Some("third_party_list"), "{}", listed.id);
    // Every endpoint citing a listed prefix is marked, and no other.
    let lists = ["https://github.com/nullgen-inc/ai-blocklist/"];
    for e in &db.endpoints {
        let listed = lists.iter().any(|l| e.source.starts_with(l));
        assert_eq!(
            e.host_evidence.as_str() == "third_party_list",
            listed,
            "{}: {}",
            e.id,
            e.source
        );
    }
    // Without the lists in database.toml nothing is marked.
    let files: Vec<(String, String)> = Database::embedded_files()
        .into_iter()
        .map(|(name, text)| {
            if name == "database.toml" {
                let kept: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.starts_with("third_party_lists"))
                    .collect();
                (name, kept.join("\n"))
            } else {
                (name, text)
            }
        })
        .collect();
    let unmarked = Database::from_files(&files).expect("valid");
    assert!(
        unmarked
            .endpoints
            .iter()
            .all(|e| e.host_evidence.as_str() == "vendor")
    );
}
