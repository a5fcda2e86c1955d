// The restricted pickle VM: opcodes of every protocol, placeholders, and hostile input.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/pickle.h"
#include "weights/pickle_builder.h"

namespace cw = cardiotorch::weights;
namespace ctt = cardiotorch::test;
using cardiotorch::DataError;
using Kind = cw::PyNode::Kind;

namespace {

// Bytes of a literal, embedded NULs included.
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

const cw::PyNode* run(cw::PyTree& tree, const std::string& bytes, const cw::pickle::Limits& limits = {}) {
  const size_t used = cw::pickle::unpickle(bytes.data(), bytes.size(), tree, "test.pkl", limits);
  EXPECT_EQ(used, bytes.size());
  return tree.root;
}

std::string error_of(const std::string& bytes, const cw::pickle::Limits& limits = {}) {
  cw::PyTree tree;
  try {
    cw::pickle::unpickle(bytes.data(), bytes.size(), tree, "test.pkl", limits);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(WeightsPickle, Protocol0Text) {
  // pickle.dumps([1, 2, 'abc', 3.5, None, True, 12345678901234567890], protocol=0)
  const std::string b =
      B("(lp0\x0aI1\x0a"
        "aI2\x0a"
        "aVabc\x0ap1\x0a"
        "aF3.5\x0a"
        "aNaI01\x0a"
        "aL12345678901234567890L\x0a"
        "a.");
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, b);
  ASSERT_EQ(r->kind, Kind::kList);
  ASSERT_EQ(r->items.size(), 7u);
  EXPECT_EQ(r->items[0]->i, 1);
  EXPECT_EQ(r->items[2]->s, "abc");
  EXPECT_DOUBLE_EQ(r->items[3]->f, 3.5);
  EXPECT_EQ(r->items[4]->kind, Kind::kNone);
  EXPECT_TRUE(r->items[5]->b);
  EXPECT_EQ(r->items[6]->s, "int");  // wider than 64 bits: kept as text in a placeholder
  EXPECT_EQ(r->items[6]->items[0]->s, "12345678901234567890");
}

TEST(WeightsPickle, Protocol4FramesMemoAndShortStrings) {
  // pickle.dumps({'a': [1, -2], 'b': 'é', 'c': b'\x00\x01'}, protocol=4)
  const std::string b =
      B("\x80\x04\x95&\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01"
        "a\x94]\x94(K\x01J\xfe\xff\xff\xff"
        "e\x8c\x01"
        "b\x94\x8c\x02\xc3\xa9\x94\x8c\x01"
        "c\x94"
        "C\x02\x00\x01\x94u.");
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, b);
  ASSERT_EQ(r->kind, Kind::kDict);
  EXPECT_EQ(r->get("a")->items[1]->i, -2);
  EXPECT_EQ(r->get("b")->s, "\xc3\xa9");
  EXPECT_EQ(r->get("c")->kind, Kind::kBytes);
  EXPECT_EQ(r->get("c")->s, std::string("\x00\x01", 2));
}

TEST(WeightsPickle, LongAndFloatEncodings) {
  ctt::PickleBuilder p;
  p.op('(');
  p.op('\x8a').raw(B("\x02\x01\xff"));                              // LONG1 0xff01 -> -255
  p.op('\x8a').raw(B("\x02\xff\x00"));                              // 255
  p.op('\x8a').raw(B("\x00"));                                      // 0
  p.op('\x8a').raw(B("\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01"));  // 2^64
  p.op('G').raw(B("\x3f\xf8\x00\x00\x00\x00\x00\x00"));             // 1.5, big-endian
  p.op('M').raw(B("\x34\x12"));                                     // 0x1234
  p.op('l');
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, p.done());
  EXPECT_EQ(r->items[0]->i, -255);
  EXPECT_EQ(r->items[1]->i, 255);
  EXPECT_EQ(r->items[2]->i, 0);
  EXPECT_EQ(r->items[3]->kind, Kind::kObject);
  EXPECT_EQ(r->items[3]->items[0]->s, "0x010000000000000000");
  EXPECT_DOUBLE_EQ(r->items[4]->f, 1.5);
  EXPECT_EQ(r->items[5]->i, 0x1234);
}

TEST(WeightsPickle, OrderedDictWithMetadataAndPlaceholders) {
  ctt::PickleBuilder p;
  p.empty_ordered_dict().op('(').str("x").integer(1).op('u');
  p.op('}').str("_metadata").op('}').op('s').op('b');  // BUILD: OrderedDict instance __dict__
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, p.done());
  EXPECT_EQ(r->kind, Kind::kDict);
  EXPECT_EQ(r->py_class, "collections.OrderedDict");
  EXPECT_EQ(r->children().size(), 1u);  // _metadata is an attribute, not an entry
  ASSERT_NE(r->state, nullptr);

  // argparse.Namespace via NEWOBJ + BUILD; a call of an unknown global; calling its result.
  ctt::PickleBuilder q;
  q.op('(');
  q.global("argparse", "Namespace").op(')').op('\x81').op('}').str("lr").integer(3).op('s').op('b');
  q.global("mylib", "Thing").str("arg").op('\x85').op('R');
  q.global("mylib", "factory").op(')').op('R').op(')').op('R');
  q.op('l');
  cw::PyTree t2;
  const cw::PyNode* l = run(t2, q.done());
  EXPECT_EQ(l->items[0]->s, "argparse.Namespace");
  EXPECT_EQ(l->items[0]->get("lr")->i, 3);
  EXPECT_EQ(l->items[1]->repr(), "mylib.Thing('arg')");
  EXPECT_EQ(l->items[2]->kind, Kind::kObject);
  EXPECT_EQ(l->items[2]->s, "mylib.factory(...)");
}

TEST(WeightsPickle, BytesThroughCodecsAndNumpyScalars) {
  // Protocol 2 carries bytes as _codecs.encode(latin-1 text, 'latin1').
  ctt::PickleBuilder p;
  p.op('(');
  p.global("_codecs", "encode").str("\xc3\xbf\x01").str("latin1").op('\x86').op('R');
  // numpy.float32(0.25): scalar(dtype('f4', False, True) with state (3, '<', ...), b'\x00\x00\x80\x3e')
  p.global("numpy.core.multiarray", "scalar");
  p.global("numpy", "dtype").str("f4").op('\x89').op('\x88').op('\x87').op('R');
  p.op('(').integer(3).str("<").op('N').op('N').op('N').integer(-1).integer(-1).integer(0).op('t').op('b');
  p.global("_codecs", "encode").str(B("\x00\x00\xc2\x80\x3e")).str("latin1").op('\x86').op('R');
  p.op('\x86').op('R');
  p.op('l');
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, p.done());
  EXPECT_EQ(r->items[0]->kind, Kind::kBytes);
  EXPECT_EQ(r->items[0]->s, std::string("\xff\x01", 2));
  EXPECT_EQ(r->items[1]->kind, Kind::kFloat);
  EXPECT_DOUBLE_EQ(r->items[1]->f, 0.25);
  EXPECT_EQ(r->items[1]->py_class, "numpy.float32");
}

TEST(WeightsPickle, WriterOutputReadsBack) {
  std::vector<cw::pickle::TensorRecord> recs = {
      {"blocks.0.weight", "float32", {2, 3}, {3, 1}, 0, "0", 6, false},
      {"big", "int64", {70000}, {1}, 0, "1", 70000, true},
      {"scalar", "bfloat16", {}, {}, 0, "2", 1, false},
  };
  const std::string b = cw::pickle::write_state_dict(recs);
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, b);
  ASSERT_EQ(r->entries.size(), 3u);
  EXPECT_EQ(r->py_class, "collections.OrderedDict");
  const cw::TensorInfo& t0 = *r->get("blocks.0.weight")->tensor;
  EXPECT_EQ(t0.dtype, "float32");
  EXPECT_EQ(t0.sizes, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t0.strides, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(t0.storage->storage->key, "0");
  const cw::TensorInfo& t1 = *r->get("big")->tensor;
  EXPECT_EQ(t1.storage->storage->numel, 70000u);
  EXPECT_TRUE(t1.requires_grad);
  EXPECT_EQ(r->get("scalar")->tensor->dtype, "bfloat16");
  EXPECT_TRUE(r->get("scalar")->tensor->sizes.empty());
  recs[0].dtype = "uint16";  // no typed storage class: torch 1.x could not read it
  EXPECT_THROW(cw::pickle::write_state_dict(recs), cardiotorch::ConfigError);
}

TEST(WeightsPickle, DangerousCallsAreRefused) {
  for (const auto& [mod, name] : std::vector<std::pair<std::string, std::string>>{{"os", "system"},
                                                                                  {"posix", "system"},
                                                                                  {"subprocess", "Popen"},
                                                                                  {"builtins", "eval"},
                                                                                  {"__builtin__", "getattr"},
                                                                                  {"builtins", "exec"},
                                                                                  {"torch.hub", "load"},
                                                                                  {"importlib", "import_module"}}) {
    ctt::PickleBuilder p;
    p.global(mod, name).str("echo pwned").op('\x85').op('R');
    const std::string e = error_of(p.done());
    EXPECT_NE(e.find("refusing a pickle that calls " + mod + "." + name), std::string::npos) << e;
    ctt::PickleBuilder q;  // INST runs the class's __init__, so it is a call too
    q.op('(').str("echo pwned").op('i').raw(mod + "\n" + name + "\n");
    EXPECT_NE(error_of(q.done()).find("refusing a pickle that instantiates"), std::string::npos) << mod << "." << name;
    ctt::PickleBuilder n;  // NEWOBJ only allocates (cls.__new__): an inert placeholder
    n.global(mod, name).op(')').op('\x81');
    cw::PyTree t;
    EXPECT_EQ(run(t, n.done())->kind, Kind::kObject);
  }
  // A mere reference to such a global, never called, is an inert name.
  ctt::PickleBuilder ref;
  ref.global("os", "system");
  cw::PyTree tree;
  EXPECT_EQ(run(tree, ref.done())->kind, Kind::kGlobal);
}

TEST(WeightsPickle, MalformedInputFailsClearly) {
  EXPECT_NE(error_of("").find("truncated pickle"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02")).find("truncated pickle"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x09.")).find("unsupported pickle protocol 9"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02\xff")).find("unknown opcode 0xff"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02.")).find("stack underflow"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02h\x05.")).find("memo entry 5 was never stored"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02K\x01K\x02K\x03s.")).find("SETITEM on a 1"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02u.")).find("MARK expected"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02\x82\x01.")).find("extension registry"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x05\x97.")).find("out-of-band buffers"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02(X\x01\x00\x00\x00xQ.")).find("unsupported persistent id"), std::string::npos);
  EXPECT_NE(error_of(B("\x80\x02"
                       "cmylib\x0a"
                       "f\x0aK\x01R."))
                .find("REDUCE arguments are not a tuple"),
            std::string::npos);
}

TEST(WeightsPickle, EveryTruncationOfAValidPickleFails) {
  std::vector<cw::pickle::TensorRecord> recs = {{"w", "float32", {2, 3}, {3, 1}, 0, "0", 6, false}};
  const std::string b = cw::pickle::write_state_dict(recs);
  for (size_t cut = 0; cut < b.size(); ++cut) EXPECT_NE(error_of(b.substr(0, cut)), "") << "cut at " << cut;
}

TEST(WeightsPickle, RecursiveAndDeepStructures) {
  // l = []; l.append(l)
  EXPECT_NE(error_of(B("\x80\x02]q\x00h\x00"
                       "a."))
                .find("recursive structure"),
            std::string::npos);
  // d = {}; d['self'] = d
  EXPECT_NE(error_of(B("\x80\x02}q\x00X\x04\x00\x00\x00selfh\x00s.")).find("recursive structure"), std::string::npos);
  // 300 nested lists: deeper than the default limit of 256.
  std::string deep = "\x80\x02";
  for (int i = 0; i < 300; ++i) deep += "]";
  for (int i = 0; i < 299; ++i) deep += "a";
  deep += ".";
  EXPECT_NE(error_of(deep).find("nested deeper than 256"), std::string::npos);
  // A shared (not recursive) child is fine: [x, x].
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, B("\x80\x02]q\x00(]q\x01h\x01"
                                    "e."));
  EXPECT_EQ(r->items.size(), 2u);
  EXPECT_EQ(r->items[0], r->items[1]);
}

TEST(WeightsPickle, MemoryIsBounded) {
  // 'x' * 1000 duplicated 100000 times through DUP: every copy costs a stack slot.
  const std::string b = B("\x80\x02X\xe8\x03\x00\x00") + std::string(1000, 'x') + std::string(100000, '2') + "]" + ".";
  cw::pickle::Limits small;
  small.max_memory = 256 * 1024;
  EXPECT_NE(error_of(b, small).find("more than 256 KiB of objects"), std::string::npos);
  // A storage numel too large for its view arithmetic is still only a number until checked.
  ctt::PickleBuilder p;
  p.tensor_v2("FloatStorage", "0", 6, 0, {int64_t{1} << 40, int64_t{1} << 40}, {1, 1});
  EXPECT_NE(error_of(p.done()).find("more than 2^62 elements"), std::string::npos);
  ctt::PickleBuilder neg;
  neg.tensor_v2("FloatStorage", "0", 6, 0, {2}, {-1});
  EXPECT_NE(error_of(neg.done()).find("negative size or stride"), std::string::npos);
}

TEST(WeightsPickle, StorageDeclaredTwiceDifferentlyIsRejected) {
  ctt::PickleBuilder p;
  p.op('(').tensor_v2("FloatStorage", "0", 6, 0, {6}, {1}).tensor_v2("LongStorage", "0", 6, 0, {6}, {1}).op('l');
  EXPECT_NE(error_of(p.done()).find("declared twice"), std::string::npos);
  ctt::PickleBuilder same;  // the same storage twice (two views) is normal
  same.op('(').tensor_v2("FloatStorage", "0", 6, 0, {3}, {1}).tensor_v2("FloatStorage", "0", 6, 3, {3}, {1}).op('l');
  cw::PyTree tree;
  const cw::PyNode* r = run(tree, same.done());
  EXPECT_EQ(r->items[0]->tensor->storage, r->items[1]->tensor->storage);
  EXPECT_EQ(tree.storages().size(), 1u);
}

TEST(WeightsPickle, PythonPicklesOfEveryProtocol) {
  // tests/fuzz/corpus_weights/mixed_p<N>.pkl = pickle.dumps(mixed, protocol=N), written by
  // make_fixtures.py; the same values must come out of all six.
  for (int proto = 0; proto <= 5; ++proto) {
    SCOPED_TRACE("protocol " + std::to_string(proto));
    std::ifstream f(ctt::source_path("tests/fuzz/corpus_weights/mixed_p" + std::to_string(proto) + ".pkl"),
                    std::ios::binary);
    const std::string b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(b.empty());
    cw::PyTree tree;
    const cw::PyNode* r = run(tree, b);
    ASSERT_EQ(r->kind, Kind::kDict);
    const cw::PyNode* a = r->get("a");
    ASSERT_EQ(a->items.size(), 5u);
    EXPECT_EQ(a->items[1]->i, -2);
    EXPECT_DOUBLE_EQ(a->items[2]->f, 3.5);
    EXPECT_EQ(a->items[3]->kind, Kind::kNone);
    EXPECT_TRUE(a->items[4]->b);
    const cw::PyNode* b2 = r->get("b");
    EXPECT_EQ(b2->kind, Kind::kTuple);
    EXPECT_EQ(b2->items[0]->s, "x");
    EXPECT_EQ(b2->items[1]->kind, Kind::kBytes);
    EXPECT_EQ(b2->items[1]->s, B("\x00\xff"));
    EXPECT_EQ(b2->items[2]->s, "int");  // 2**70 does not fit 64 bits
    EXPECT_EQ(r->get("c")->kind, Kind::kSet);
    EXPECT_EQ(r->get("c")->items.size(), 2u);
    EXPECT_EQ(r->get("d")->py_class, "frozenset");
    EXPECT_EQ(r->get("e")->get("z")->i, 1);
    EXPECT_EQ(r->get("f")->s, "ab");
    EXPECT_EQ(r->get("g")->s, "\xc3\xa9\xf0\x9f\x98\x80");
  }
}
