#!/usr/bin/python3
"""bert_basic_reference.py TOOL — the BERT basic tokenizer as its reference
specifies it (google-research/bert, tokenization.py: BasicTokenizer with
do_lower_case), written here on Python's unicodedata, run on text in many
scripts and compared token for token with flowtrain's data::basic_tokenize
(TOOL reads lines on stdin and prints each line's tokens tab-separated).
Exits 1 on the first difference, naming the script and both token lists.
"""
import subprocess
import sys
import unicodedata

TEXTS = {
    "Latin (French)": "Élève à l'école: «Ça va?» — Oui, très bien!",
    "Latin (German)": "Straße, Größe und Übermäßig; ÄÖÜ.",
    "Latin (Romanian)": "Știință și țară: Școala românească.",
    "Latin (Vietnamese)": "Tiếng Việt có dấu: Người Hà Nội ăn phở.",
    "Latin (Polish, Czech)": "Zażółć gęślą jaźń; Příliš žluťoučký kůň.",
    "Latin (Turkish)": "İstanbul'da IŞIK ve ılık çay.",
    "Greek": "Η Ελλάδα είναι ΌΜΟΡΦΗ· ΟΔΟΣ, άνθρωπος; Ἀθῆναι.",
    "Cyrillic": "Йошкар-Ола и ЁЛКА: пойдём «домой»!",
    "Armenian": "ՀԱՅԱՍՏԱՆ Երևան՝ մայրաքաղաք։",
    "Georgian": "საქართველო, თბილისი — ქართული ენა.",
    "Hebrew": "שלום עולם, צה״ל ג׳ירפה.",
    "Arabic": "مرحبا، كيف حالك؟ العَرَبِيَّة.",
    "Devanagari (Hindi)": "हिन्दी भाषा में नमस्ते। क्या हाल है?",
    "Bengali": "বাংলা ভাষা, আমার সোনার বাংলা।",
    "Tamil": "தமிழ் மொழி, வணக்கம்!",
    "Gujarati": "ગુજરાતી ભાષા, નમસ્તે.",
    "Telugu": "తెలుగు భాష, నమస్కారం.",
    "Kannada": "ಕನ್ನಡ ಭಾಷೆ, ನಮಸ್ಕಾರ.",
    "Malayalam": "മലയാളം ഭാഷ, നമസ്കാരം.",
    "Sinhala": "සිංහල භාෂාව, ආයුබෝවන්.",
    "Thai": "ภาษาไทย สวัสดีครับ, ขอบคุณ!",
    "Khmer": "ភាសាខ្មែរ សួស្តី។",
    "Tibetan": "བོད་ཡིག་ བཀྲ་ཤིས་བདེ་ལེགས།",
    "Hangul": "한국어 문장입니다. 안녕하세요!",
    "Japanese": "カタカナ・ひらがなと漢字の文章です。",
    "Chinese": "中文句子，你好！北京欢迎你。",
    "Ethiopic": "ሰላም ለዓለም፣ አማርኛ።",
    "Cherokee": "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ.",
    "Mixed marks and controls": "a\u0301b\u00ad c\u200bd\u0000e\ufffd f\u2028g\u00a0h \U0001F600!",
}


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    cleaned = []
    for c in text:
        if ord(c) == 0 or ord(c) == 0xFFFD or is_control(c):
            continue
        cleaned.append(" " if is_whitespace(c) else c)
    spaced = []
    for c in cleaned:
        spaced.append(f" {c} " if is_cjk(ord(c)) else c)
    out = []
    for tok in "".join(spaced).split():
        tok = unicodedata.normalize("NFD", tok.lower())
        tok = "".join(c for c in tok if unicodedata.category(c) != "Mn")
        cur = ""
        for c in tok:
            if is_punctuation(c):
                if cur:
                    out.append(cur)
                out.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            out.append(cur)
    return out


def main():
    tool = sys.argv[1]
    names = list(TEXTS)
    lines = [TEXTS[n].replace("\n", " ") for n in names]
    got = subprocess.run([tool], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    got_lines = got.split("\n")
    bad = 0
    for i, name in enumerate(names):
        want = basic_tokenize(lines[i])
        have = got_lines[i].split("\t") if got_lines[i] else []
        if want != have:
            bad += 1
            print(f"FAIL {name}:\n  reference {want}\n  flowtrain {have}")
    scripts = len({n.split(" (")[0] for n in names if not n.startswith("Mixed")})
    if bad:
        sys.exit(f"bert_basic_reference: {bad} of {len(names)} texts differ")
    print(f"bert_basic_reference: {len(names)} texts in {scripts} scripts tokenize as the reference "
          f"(Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version})")


if __name__ == "__main__":
    main()
