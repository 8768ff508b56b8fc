// tokenizer_test.cpp — WordPiece tokenization against hand-checked splits, vocab
// files and the vocab builder, sentence splitting, and masked-LM example creation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>

#include "data/loader.h"
#include "data/mlm.h"
#include "data/wordpiece.h"

using namespace ft;
using namespace ft::data;
using Strs = std::vector<std::string>;

namespace {

Vocab small_vocab() {
  return Vocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "the", "dog", "##s", "run",
                "##ning", "a", "##b", "##c", ",", ".", "!", "hello", "cafe", "caf", "##é", "'", "s"});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// ---- basic tokenization -------------------------------------------------------------

TEST(Tokenizer, BasicSplitsWhitespaceAndPunctuation) {
  EXPECT_EQ(basic_tokenize("  Hello,  World!\tfoo\n"), (Strs{"hello", ",", "world", "!", "foo"}));
  EXPECT_EQ(basic_tokenize("don't stop...now"), (Strs{"don", "'", "t", "stop", ".", ".", ".", "now"}));
  EXPECT_EQ(basic_tokenize("a$b+c=d"), (Strs{"a", "$", "b", "+", "c", "=", "d"}));
  // Unicode punctuation: em dash and curly quotes are tokens of their own.
  EXPECT_EQ(basic_tokenize("ago\xE2\x80\x94never \xE2\x80\x9CHi\xE2\x80\x9D"),
            (Strs{"ago", "\xE2\x80\x94", "never", "\xE2\x80\x9C", "hi", "\xE2\x80\x9D"}));
  EXPECT_EQ(basic_tokenize(""), Strs{});
  EXPECT_EQ(basic_tokenize(" \n\t "), Strs{});
}

TEST(Tokenizer, LowerCaseAndAccents) {
  EXPECT_EQ(basic_tokenize("Caf\xC3\xA9 \xC3\x89T\xC3\x89"), (Strs{"cafe", "ete"}));   // Café ÉTÉ
  TokenizerOptions keep;
  keep.strip_accents = false;
  EXPECT_EQ(basic_tokenize("Caf\xC3\xA9", keep), (Strs{"caf\xC3\xA9"}));
  keep.lower_case = false;
  EXPECT_EQ(basic_tokenize("Caf\xC3\xA9", keep), (Strs{"Caf\xC3\xA9"}));
  // A combining acute accent (e + U+0301) is dropped when stripping.
  EXPECT_EQ(basic_tokenize("cafe\xCC\x81"), (Strs{"cafe"}));
  // Control characters vanish; a non-breaking space splits.
  EXPECT_EQ(basic_tokenize("ab\x01" "c d\xC2\xA0" "e"), (Strs{"abc", "d", "e"}));
}

// ---- WordPiece -----------------------------------------------------------------------

TEST(Tokenizer, GreedyLongestMatchFirst) {
  WordPieceTokenizer tok(small_vocab());
  EXPECT_EQ(tok.split_word("unaffable"), (Strs{"un", "##aff", "##able"}));
  EXPECT_EQ(tok.split_word("dogs"), (Strs{"dog", "##s"}));
  EXPECT_EQ(tok.split_word("running"), (Strs{"run", "##ning"}));
  EXPECT_EQ(tok.split_word("abcb"), (Strs{"a", "##b", "##c", "##b"}));
  // No full split -> the whole word is [UNK] (not a partial split).
  EXPECT_EQ(tok.split_word("unaffx"), (Strs{"[UNK]"}));
  EXPECT_EQ(tok.split_word("xyz"), (Strs{"[UNK]"}));
  EXPECT_EQ(tok.tokenize("The dogs, running! Unaffable."),
            (Strs{"the", "dog", "##s", ",", "run", "##ning", "!", "un", "##aff", "##able", "."}));
  EXPECT_EQ(tok.encode("the dogs."), (std::vector<int32_t>{8, 9, 10, 17}));
  EXPECT_EQ(tok.decode({8, 9, 10, 17}), "the dogs .");
}

TEST(Tokenizer, MultiByteCharactersAndLongWords) {
  TokenizerOptions keep;
  keep.strip_accents = false;
  WordPieceTokenizer tok(small_vocab(), keep);
  // Pieces are cut at character boundaries, never inside a UTF-8 sequence.
  EXPECT_EQ(tok.tokenize("Caf\xC3\xA9"), (Strs{"caf", "##\xC3\xA9"}));
  WordPieceTokenizer strip(small_vocab());
  EXPECT_EQ(strip.tokenize("Caf\xC3\xA9"), (Strs{"cafe"}));
  // More than 100 characters -> [UNK]; exactly 100 is split normally.
  std::string w100 = "a";
  for (int i = 0; i < 99; ++i) w100 += "b";
  EXPECT_EQ(tok.split_word(w100).size(), 100u);
  EXPECT_EQ(tok.split_word(w100 + "b"), (Strs{"[UNK]"}));
}

// ---- vocab files ---------------------------------------------------------------------------

TEST(Vocab, SpecialIdsAndErrors) {
  Vocab v = small_vocab();
  EXPECT_EQ(v.pad_id, 0);
  EXPECT_EQ(v.unk_id, 1);
  EXPECT_EQ(v.cls_id, 2);
  EXPECT_EQ(v.sep_id, 3);
  EXPECT_EQ(v.mask_id, 4);
  EXPECT_TRUE(v.is_special(4));
  EXPECT_FALSE(v.is_special(5));
  EXPECT_EQ(v.id("nope"), -1);
  EXPECT_NE(error_of([] { Vocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]"}); }).find("missing special token [MASK]"),
            std::string::npos);
  EXPECT_NE(error_of([] { Vocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"}); }).find("'a' appears twice (lines 6 and 7)"),
            std::string::npos);
  EXPECT_NE(error_of([] { Vocab::load("/nonexistent/vocab.txt"); }).find("/nonexistent/vocab.txt"), std::string::npos);
}

TEST(Vocab, SaveLoadRoundTripInBertFormat) {
  const std::string p = ::testing::TempDir() + "ft_vocab_test.txt";
  {
    // BERT's own layout: specials not first, CRLF line ends tolerated.
    std::ofstream f(p);
    f << "[PAD]\r\n[unused0]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nthe\r\n##s\r\n";
  }
  Vocab v = Vocab::load(p);
  EXPECT_EQ(v.size(), 8);
  EXPECT_EQ(v.unk_id, 2);
  EXPECT_EQ(v.mask_id, 5);
  EXPECT_EQ(v.token(7), "##s");
  v.save(p);
  Vocab w = Vocab::load(p);
  EXPECT_EQ(w.tokens(), v.tokens());
  std::remove(p.c_str());
}

TEST(Vocab, BuilderPutsSpecialsFirstAndCoversTheCorpus) {
  const std::string corpus =
      "The whale! The whales swam. A whaling ship, the Pequod, hunted whales.\n\nThe sea was calm; the whale was not.";
  Vocab v = build_vocab(corpus, 120);
  ASSERT_EQ(v.size(), 120);
  EXPECT_TRUE(v.contains("$"));   // printable ASCII even when the corpus lacks it
  EXPECT_FALSE(v.contains("Q"));  // but no upper case when lower-casing
  for (int i = 0; i < 5; ++i) EXPECT_EQ(v.token(i), kSpecialTokens[i]);
  // Characters follow the specials: 'e' is the most frequent one here.
  EXPECT_EQ(v.token(5), "e");
  EXPECT_TRUE(v.contains("##h"));
  EXPECT_TRUE(v.contains("whale"));   // a frequent whole word
  EXPECT_TRUE(v.contains("the"));
  // Every word of the corpus tokenizes without [UNK].
  WordPieceTokenizer tok(v);
  for (const std::string& t : tok.tokenize(corpus)) EXPECT_NE(t, "[UNK]");
  EXPECT_EQ(tok.tokenize("whales"), (Strs{"whales"}));
  // Deterministic, and too small a size is a clear error.
  EXPECT_EQ(build_vocab(corpus, 120).tokens(), v.tokens());
  EXPECT_NE(error_of([&] { build_vocab(corpus, 10); }).find("vocab_size 10 cannot hold"), std::string::npos);
  EXPECT_NE(error_of([&] { build_vocab("  \n ", 100); }).find("no words"), std::string::npos);
}

// ---- sentences and MLM ------------------------------------------------------------------------

TEST(Mlm, SplitSentences) {
  EXPECT_EQ(split_sentences("Call me Ishmael. Some years ago\nI went!  \"Why?\" he said.\n\nNew paragraph\nwithout end"),
            (Strs{"Call me Ishmael.", "Some years ago I went!", "\"Why?\"", "he said.", "New paragraph without end"}));
  EXPECT_EQ(split_sentences("3.14 is pi."), (Strs{"3.14 is pi."}));
  EXPECT_TRUE(split_sentences(" \n\n ").empty());
}

TEST(Mlm, PacksSegmentsWithPaddingAndMask) {
  Vocab v = small_vocab();
  // Sentences of ids 5..24 (non-special); seq_len 12 -> target 9 tokens per chunk.
  std::vector<std::vector<int32_t>> s = {{5, 6, 7}, {8, 9, 10, 11}, {12, 13}, {14}};
  MlmOptions o;
  o.seq_len = 12;
  o.max_predictions = 3;
  o.seed = 1;
  MlmExamples ex = create_mlm_examples(s, v, o);
  ASSERT_EQ(ex.size(), 2);
  EXPECT_EQ(ex.input_ids.shape(), (Shape{2, 12}));
  EXPECT_EQ(ex.masked_positions.shape(), (Shape{2, 3}));
  const int32_t* seg = ex.segment_ids.data<int32_t>();
  const float* att = ex.attention_mask.data<float>();
  // Undo the masking to see the packed tokens.
  std::vector<int32_t> ids = ex.input_ids.to_vector<int32_t>();
  for (int64_t k = 0; k < 6; ++k)
    if (ex.masked_labels.data<int32_t>()[k] >= 0)
      ids[static_cast<size_t>((k / 3) * 12 + ex.masked_positions.data<int32_t>()[k])] = ex.masked_labels.data<int32_t>()[k];
  // Sequence 0: chunk {5,6,7},{8,9,10,11},{12,13} (9 tokens) cut into A and B at a sentence boundary.
  EXPECT_EQ(ids[0], v.cls_id);
  int seps = 0, tokens = 0;
  for (int p = 0; p < 12; ++p) {
    if (ids[static_cast<size_t>(p)] == v.sep_id) ++seps;
    tokens += att[p] > 0;
  }
  EXPECT_EQ(seps, 2);
  EXPECT_EQ(tokens, 12);   // 9 + [CLS] + 2 [SEP]
  EXPECT_EQ(seg[0], 0);
  EXPECT_EQ(seg[11], 1);   // the final [SEP] belongs to B
  // Sequence 1: the leftover sentence {14} alone: [CLS] 14 [SEP] [PAD]...
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 12, ids.begin() + 16), (std::vector<int32_t>{2, 14, 3, 0}));
  EXPECT_EQ(att[12 + 2], 1.0f);
  EXPECT_EQ(att[12 + 3], 0.0f);
  EXPECT_EQ(seg[12 + 2], 0);
  // One token to predict in sequence 1 (max(1, round(0.15))); the other slots are padding.
  EXPECT_EQ(ex.masked_positions.data<int32_t>()[3], 1);
  EXPECT_EQ(ex.masked_labels.data<int32_t>()[3], 14);
  EXPECT_EQ(ex.masked_labels.data<int32_t>()[4], -1);
  EXPECT_EQ(ex.masked_weights.data<float>()[3], 1.0f);
  EXPECT_EQ(ex.masked_weights.data<float>()[4], 0.0f);
}

TEST(Mlm, MaskingProportionsLabelsAndDeterminism) {
  // A large vocab of non-special tokens and long random sentences.
  std::vector<std::string> toks(kSpecialTokens, kSpecialTokens + 5);
  for (int i = 0; i < 995; ++i) toks.push_back("w" + std::to_string(i));
  Vocab v(toks);
  std::vector<std::vector<int32_t>> s;
  uint64_t x = 12345;
  for (int i = 0; i < 4000; ++i) {
    std::vector<int32_t> sent;
    for (int k = 0; k < 5 + i % 20; ++k) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      sent.push_back(5 + static_cast<int32_t>((x >> 33) % 995));
    }
    s.push_back(sent);
  }
  MlmOptions o;
  o.seq_len = 64;
  o.max_predictions = 20;
  o.seed = 7;
  MlmExamples ex = create_mlm_examples(s, v, o);
  ASSERT_GT(ex.size(), 500);

  // Recover the original tokens and check labels / masking rules.
  const int64_t N = ex.size(), T = 64, P = 20;
  const int32_t* in = ex.input_ids.data<int32_t>();
  const int32_t* pos = ex.masked_positions.data<int32_t>();
  const int32_t* lab = ex.masked_labels.data<int32_t>();
  int64_t candidates = 0, chosen = 0, as_mask = 0, as_random = 0, same = 0;
  for (int64_t i = 0; i < N; ++i) {
    std::set<int32_t> masked;
    for (int64_t k = 0; k < P; ++k)
      if (lab[i * P + k] >= 0) {
        const int32_t p = pos[i * P + k];
        EXPECT_TRUE(masked.insert(p).second);
        if (k > 0 && lab[i * P + k - 1] >= 0) {
          EXPECT_GT(p, pos[i * P + k - 1]);
        }
        EXPECT_FALSE(v.is_special(lab[i * P + k]));   // labels are original, non-special tokens
        const int32_t now = in[i * T + p];
        if (now == v.mask_id) {
          ++as_mask;
        } else if (now == lab[i * P + k]) {
          ++same;
        } else {
          ++as_random;
          EXPECT_FALSE(v.is_special(now));
        }
        ++chosen;
      }
    for (int64_t t = 0; t < T; ++t) {
      const int32_t id = in[i * T + t];
      if (masked.count(static_cast<int32_t>(t))) ++candidates;
      else if (!v.is_special(id)) ++candidates;
    }
  }
  const double rate = static_cast<double>(chosen) / static_cast<double>(candidates);
  EXPECT_NEAR(rate, 0.15, 0.01);
  EXPECT_NEAR(static_cast<double>(as_mask) / chosen, 0.8, 0.02);
  EXPECT_NEAR(static_cast<double>(as_random) / chosen, 0.1, 0.015);
  EXPECT_NEAR(static_cast<double>(same) / chosen, 0.1, 0.015);

  // Same seed -> identical; another seed -> different masks.
  MlmExamples again = create_mlm_examples(s, v, o);
  EXPECT_EQ(again.input_ids.to_vector<int32_t>(), ex.input_ids.to_vector<int32_t>());
  EXPECT_EQ(again.masked_positions.to_vector<int32_t>(), ex.masked_positions.to_vector<int32_t>());
  o.seed = 8;
  MlmExamples other = create_mlm_examples(s, v, o);
  EXPECT_NE(other.masked_positions.to_vector<int32_t>(), ex.masked_positions.to_vector<int32_t>());
}

TEST(Mlm, EmptyOrBadInputIsAClearError) {
  Vocab v = small_vocab();
  WordPieceTokenizer tok(v);
  MlmOptions o;
  EXPECT_NE(error_of([&] { create_mlm_examples(std::string(" \n\n "), tok, o); }).find("the corpus has no tokens"),
            std::string::npos);
  EXPECT_NE(error_of([&] { create_mlm_examples(std::vector<std::vector<int32_t>>{{}, {}}, v, o); }).find("no tokens"),
            std::string::npos);
  o.seq_len = 4;
  EXPECT_NE(error_of([&] { create_mlm_examples("the dog.", tok, o); }).find("seq_len must be >= 5"), std::string::npos);
  o.seq_len = 16;
  o.max_predictions = 17;
  EXPECT_NE(error_of([&] { create_mlm_examples("the dog.", tok, o); }).find("max_predictions"), std::string::npos);
  o.max_predictions = 4;
  o.mask_prob = 0;
  EXPECT_NE(error_of([&] { create_mlm_examples("the dog.", tok, o); }).find("mask_prob"), std::string::npos);
}

TEST(Mlm, ExamplesFeedTheBatchLoader) {
  WordPieceTokenizer tok(small_vocab());
  std::string text;
  for (int i = 0; i < 40; ++i) text += "The dogs run. Hello, unaffable dog! ";
  MlmOptions o;
  o.seq_len = 16;
  o.max_predictions = 4;
  MlmExamples ex = create_mlm_examples(text, tok, o);
  ASSERT_GE(ex.size(), 4);
  BatchLoader l(ex.columns(), LoaderOptions{2, 0, 1, 3, true, false});
  const Batch& b = l.next();
  ASSERT_EQ(b.columns.size(), 6u);
  EXPECT_EQ(b[0].shape(), (Shape{2, 16}));
  EXPECT_EQ(b[2].dtype(), DType::F32);
  EXPECT_EQ(b[4].shape(), (Shape{2, 4}));
  EXPECT_EQ(b[0].data<int32_t>()[0], tok.vocab().cls_id);
}

// The real corpus from scripts/fetch_text.sh (skipped when not fetched).
TEST(Mlm, MobyDickCorpus) {
  std::ifstream probe("data/text/corpus.txt");
  if (!probe) GTEST_SKIP() << "data/text not fetched (scripts/fetch_text.sh)";
  std::string text = read_text_file("data/text/corpus.txt");
  Vocab v = build_vocab(text, 2000);
  WordPieceTokenizer tok(v);
  int64_t unk = 0, total = 0;
  for (int32_t id : tok.encode(text.substr(0, 200000))) unk += id == v.unk_id, ++total;
  EXPECT_GT(total, 30000);
  EXPECT_LT(unk, total / 1000);
  EXPECT_EQ(tok.tokenize("Call me Ishmael.")[0], "call");
  MlmOptions o;
  o.seq_len = 128;
  MlmExamples ex = create_mlm_examples(text.substr(0, 100000), tok, o);
  EXPECT_GT(ex.size(), 100);

  MlmCorpus c = load_mlm_corpus("data/text/corpus.txt", "", 3000, o, 0.1);
  EXPECT_EQ(c.vocab.size(), 3000);
  EXPECT_GT(c.train.size(), 1000);
  EXPECT_NEAR(static_cast<double>(c.eval.size()) / (c.train.size() + c.eval.size()), 0.1, 0.01);
  EXPECT_EQ(c.eval.input_ids.shape(), (Shape{c.eval.size(), 128}));
}

TEST(Mlm, SliceAndCorpusErrors) {
  const std::string p = ::testing::TempDir() + "ft_corpus_test.txt";
  {
    std::ofstream f(p);
    for (int i = 0; i < 50; ++i) f << "The dogs run. Hello, unaffable dog!\n";
  }
  const std::string vp = ::testing::TempDir() + "ft_corpus_vocab.txt";
  small_vocab().save(vp);
  MlmOptions o;
  o.seq_len = 16;
  o.max_predictions = 4;
  MlmCorpus c = load_mlm_corpus(p, vp, 0, o, 0.25);
  const int64_t n = c.train.size() + c.eval.size();
  EXPECT_EQ(c.eval.size(), std::llround(n * 0.25));
  MlmExamples all = create_mlm_examples(read_text_file(p), WordPieceTokenizer(small_vocab()), o);
  MlmExamples tail = slice_examples(all, n - c.eval.size(), n);
  EXPECT_EQ(tail.input_ids.to_vector<int32_t>(), c.eval.input_ids.to_vector<int32_t>());
  EXPECT_EQ(tail.masked_labels.to_vector<int32_t>(), c.eval.masked_labels.to_vector<int32_t>());
  EXPECT_NE(error_of([&] { slice_examples(all, 3, 2); }).find("rows [3, 2)"), std::string::npos);
  {
    std::ofstream f(p);
    f << "   \n\n";
  }
  std::string m = error_of([&] { load_mlm_corpus(p, vp, 0, o); });
  EXPECT_NE(m.find(p), std::string::npos) << m;
  EXPECT_NE(m.find("no tokens"), std::string::npos) << m;
  EXPECT_NE(error_of([&] { load_mlm_corpus("/nonexistent/corpus.txt", vp, 0, o); }).find("/nonexistent/corpus.txt"),
            std::string::npos);
  // Building the vocab from a corpus without words names the corpus file too.
  m = error_of([&] { load_mlm_corpus(p, "", 100, o); });
  EXPECT_NE(m.find(p + ": build_vocab: the corpus has no words"), std::string::npos) << m;
  std::remove(p.c_str());
  std::remove(vp.c_str());
}
