#include "kubelet/server/spdy.h"

#include <zlib.h>

#include <gtest/gtest.h>

namespace tug::kubelet::server::spdy {
namespace {

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A header block compressed by plain zlib with the dictionary, independent of HeaderCompressor.
std::string ZlibBlock(z_stream& z, const std::string& raw) {
  std::string out(raw.size() + 256, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - z.avail_out);
  return out;
}

TEST(SpdyTest, DictionaryIsTheSpdy3One) {
  const std::string& d = Dictionary();
  EXPECT_EQ(d.size(), 1423u);
  EXPECT_EQ(adler32(1, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())), 0xe3c6a7c2u);
}

TEST(SpdyTest, ParsesSynStreamCompressedByZlib) {
  z_stream z{};
  ASSERT_EQ(deflateInit(&z, Z_BEST_COMPRESSION), Z_OK);
  ASSERT_EQ(deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(Dictionary().data()),
                                 static_cast<uInt>(Dictionary().size())),
            Z_OK);
  // Two SYN_STREAMs sharing one compression context, as a client sends them.
  std::string wire;
  uint32_t id = 1;
  for (std::string type : {"error", "data"}) {
    std::string raw = Be32(3) + Be32(10) + "streamtype" + Be32(static_cast<uint32_t>(type.size())) + type +
                      Be32(4) + "port" + Be32(2) + "80" + Be32(9) + "requestid" + Be32(1) + "0";
    std::string block = ZlibBlock(z, raw);
    std::string f = Be32(0x80030001) + Be32(static_cast<uint32_t>(10 + block.size())) + Be32(id) + Be32(0) +
                    std::string("\0\0", 2) + block;
    wire += f;
    id += 2;
  }
  deflateEnd(&z);
  wire += Be32(0x80030006) + Be32(4) + Be32(7);  // PING 7
  wire += Be32(3) + Be32(0x01000002) + "hi";     // DATA stream 3, FIN, "hi"

  FrameParser p;
  std::vector<Frame> frames;
  for (char c : wire) {  // one byte at a time
    p.Feed(std::string_view(&c, 1));
    Frame f;
    bool got = false;
    ASSERT_TRUE(p.Next(&f, &got).ok());
    if (got) frames.push_back(std::move(f));
  }
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].type, kSynStream);
  EXPECT_EQ(frames[0].stream_id, 1u);
  EXPECT_EQ(HeaderValue(frames[0].headers, "streamType"), "error");
  EXPECT_EQ(HeaderValue(frames[1].headers, "streamtype"), "data");
  EXPECT_EQ(HeaderValue(frames[1].headers, "port"), "80");
  EXPECT_EQ(frames[1].stream_id, 3u);
  EXPECT_EQ(frames[2].type, kPing);
  EXPECT_EQ(frames[2].value, 7u);
  EXPECT_FALSE(frames[3].control);
  EXPECT_EQ(frames[3].stream_id, 3u);
  EXPECT_EQ(frames[3].flags, kFlagFin);
  EXPECT_EQ(frames[3].data, "hi");
}

TEST(SpdyTest, SynReplyDecompressesWithZlib) {
  FrameWriter w;
  auto a = w.SynReply(1, 0, {});
  auto b = w.SynReply(3, kFlagFin, {{"X-Test", "v"}});
  ASSERT_TRUE(a.ok() && b.ok());
  z_stream z{};
  ASSERT_EQ(inflateInit(&z), Z_OK);
  std::string raw;
  for (const std::string* f : {&*a, &*b}) {
    ASSERT_EQ(Be32(0x80030002), f->substr(0, 4));
    std::string block = f->substr(12);
    char buf[1024];
    z.next_in = reinterpret_cast<Bytef*>(block.data());
    z.avail_in = static_cast<uInt>(block.size());
    for (;;) {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      int rc = inflate(&z, Z_SYNC_FLUSH);
      if (rc == Z_NEED_DICT) {
        ASSERT_EQ(inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(Dictionary().data()),
                                       static_cast<uInt>(Dictionary().size())),
                  Z_OK);
        continue;
      }
      ASSERT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << rc;
      raw.append(buf, sizeof buf - z.avail_out);
      if (z.avail_in == 0) break;
    }
  }
  inflateEnd(&z);
  EXPECT_EQ(raw, Be32(0) + Be32(1) + Be32(6) + "x-test" + Be32(1) + "v");
  EXPECT_EQ((*b)[4], static_cast<char>(kFlagFin));
}

TEST(SpdyTest, RejectsBadInput) {
  struct Case {
    std::string name, bytes;
  } cases[] = {
      {"version 2", Be32(0x80020006) + Be32(4) + Be32(1)},
      {"short rst", Be32(0x80030003) + Be32(4) + Be32(1)},
      {"garbage header block", Be32(0x80030001) + Be32(14) + Be32(1) + Be32(0) + std::string("\0\0", 2) + "abcd"},
  };
  for (auto& c : cases) {
    FrameParser p;
    p.Feed(c.bytes);
    Frame f;
    bool got = false;
    EXPECT_FALSE(p.Next(&f, &got).ok()) << c.name;
  }
}

TEST(SpdyTest, ControlFrameEncodings) {
  EXPECT_EQ(FrameWriter::RstStream(5, kCancel), Be32(0x80030003) + Be32(8) + Be32(5) + Be32(5));
  EXPECT_EQ(FrameWriter::WindowUpdate(0, 1000), Be32(0x80030009) + Be32(8) + Be32(0) + Be32(1000));
  EXPECT_EQ(FrameWriter::GoAway(7, 0), Be32(0x80030007) + Be32(8) + Be32(7) + Be32(0));
  EXPECT_EQ(FrameWriter::Data(3, kFlagFin, "ab"), Be32(3) + Be32(0x01000002) + "ab");
  EXPECT_EQ(FrameWriter::Settings({{kSettingsInitialWindowSize, 10}}),
            Be32(0x80030004) + Be32(12) + Be32(1) + Be32(7) + Be32(10));
}

}  // namespace
}  // namespace tug::kubelet::server::spdy
