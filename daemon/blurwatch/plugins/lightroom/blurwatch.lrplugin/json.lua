--[[
    json.lua - a small JSON decoder for blurwatch's plugins

    Copyright (C) the blurwatch authors.
    Licence: GPL-3.0-or-later (the same as blurwatch).

    Why it exists: the plugins read the one-JSON-object-per-line output of
    `blurwatch verdict --json` and `blurwatch --once --json`, and neither
    darktable's Lua API nor the Lightroom SDK offers a JSON decoder.

    Decoding only, plain Lua 5.1 to 5.4 (Lightroom runs 5.1, darktable 5.4).
    null decodes to nil (a key whose value is null is simply absent).

    The same file ships in plugin/darktable/lib/ and in
    plugin/lightroom/blurwatch.lrplugin/; tests/plugin keeps the two identical.

    USAGE
      local json = dofile(".../json.lua")
      local ok, value = pcall(json.decode, '{"a": [1, 2]}')
]]

local json = {}

local ESCAPES = {
  ['"'] = '"', ["\\"] = "\\", ["/"] = "/",
  b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
}

local LITERALS = { ["true"] = true, ["false"] = false, ["null"] = json }  -- json: a stand-in for nil

local decode_value  -- forward declaration: values nest

local function fail(pos, what)
  error(string.format("JSON: %s at character %d", what, pos), 0)
end

local function skip_space(text, pos)
  return string.find(text, "[^ \t\r\n]", pos) or #text + 1
end

-- A code point as UTF-8 bytes (arithmetic only: Lua 5.1 has no bit operators).
local function utf8_char(code)
  if code < 0x80 then
    return string.char(code)
  elseif code < 0x800 then
    return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
  elseif code < 0x10000 then
    return string.char(0xE0 + math.floor(code / 0x1000), 0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
  end
  return string.char(0xF0 + math.floor(code / 0x40000), 0x80 + math.floor(code / 0x1000) % 0x40,
    0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

-- \uXXXX at pos (pointing at the "u"), joining a UTF-16 surrogate pair when one follows.
local function decode_unicode(text, pos)
  local hex = string.match(text, "^%x%x%x%x", pos + 1)
  if not hex then fail(pos, "bad \\u escape") end
  local code = tonumber(hex, 16)
  if code >= 0xD800 and code <= 0xDBFF then
    local low = string.match(text, "^\\u(%x%x%x%x)", pos + 5)
    local low_code = low and tonumber(low, 16)
    if low_code and low_code >= 0xDC00 and low_code <= 0xDFFF then
      return utf8_char(0x10000 + (code - 0xD800) * 0x400 + (low_code - 0xDC00)), pos + 11
    end
  end
  return utf8_char(code), pos + 5
end

local function decode_string(text, pos)
  local parts = {}
  local i = pos + 1
  while true do
    local stop = string.find(text, '["\\%c]', i)
    if not stop then fail(pos, "unterminated string") end
    parts[#parts + 1] = string.sub(text, i, stop - 1)
    local c = string.sub(text, stop, stop)
    if c == '"' then
      return table.concat(parts), stop + 1
    elseif c == "\\" then
      local e = string.sub(text, stop + 1, stop + 1)
      if e == "u" then
        parts[#parts + 1], i = decode_unicode(text, stop + 1)
      elseif ESCAPES[e] then
        parts[#parts + 1], i = ESCAPES[e], stop + 2
      else
        fail(stop, "bad escape")
      end
    else
      fail(stop, "control character in string")
    end
  end
end

local function decode_number(text, pos)
  local literal = string.match(text, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  local number = literal and tonumber(literal)
  if not number then fail(pos, "bad number") end
  return number, pos + #literal
end

local function decode_array(text, pos)
  local result, n = {}, 0
  pos = skip_space(text, pos + 1)
  if string.sub(text, pos, pos) == "]" then return result, pos + 1 end
  while true do
    local value
    value, pos = decode_value(text, pos)
    n = n + 1
    result[n] = value
    pos = skip_space(text, pos)
    local c = string.sub(text, pos, pos)
    if c == "]" then return result, pos + 1 end
    if c ~= "," then fail(pos, "expected , or ] in array") end
    pos = skip_space(text, pos + 1)
  end
end

local function decode_object(text, pos)
  local result = {}
  pos = skip_space(text, pos + 1)
  if string.sub(text, pos, pos) == "}" then return result, pos + 1 end
  while true do
    if string.sub(text, pos, pos) ~= '"' then fail(pos, "expected a string key") end
    local key, value
    key, pos = decode_string(text, pos)
    pos = skip_space(text, pos)
    if string.sub(text, pos, pos) ~= ":" then fail(pos, "expected :") end
    value, pos = decode_value(text, skip_space(text, pos + 1))
    result[key] = value
    pos = skip_space(text, pos)
    local c = string.sub(text, pos, pos)
    if c == "}" then return result, pos + 1 end
    if c ~= "," then fail(pos, "expected , or } in object") end
    pos = skip_space(text, pos + 1)
  end
end

decode_value = function(text, pos)
  local c = string.sub(text, pos, pos)
  if c == "{" then return decode_object(text, pos) end
  if c == "[" then return decode_array(text, pos) end
  if c == '"' then return decode_string(text, pos) end
  if string.find(c, "^[-%d]") then return decode_number(text, pos) end
  local word = string.match(text, "^%a+", pos)
  if word and LITERALS[word] ~= nil then
    local value = LITERALS[word]
    if value == json then value = nil end
    return value, pos + #word
  end
  fail(pos, "unexpected character")
end

--- Decode one JSON text; raises an error naming the position on malformed input.
function json.decode(text)
  if type(text) ~= "string" then error("JSON: expected a string, got " .. type(text), 0) end
  local value, pos = decode_value(text, skip_space(text, 1))
  pos = skip_space(text, pos)
  if pos <= #text then fail(pos, "trailing characters") end
  return value
end

return json
