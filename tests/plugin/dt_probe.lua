--[[
    Helpers for the luarc of test_darktable_real.py: wait for the plugin's work inside a
    real darktable, write what the library shows as JSON, quit.
]]

local dt = require "darktable"

local probe = {}

local function quote(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    if #value > 0 or next(value) == nil then
      for _, v in ipairs(value) do parts[#parts + 1] = encode(v) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    for k, v in pairs(value) do parts[#parts + 1] = quote(k) .. ":" .. encode(v) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "string" then
    return quote(value)
  end
  return tostring(value)
end

-- What darktable shows for every image: rating, colour labels, tags (with darktable|...).
function probe.library()
  local images = {}
  for _, image in ipairs(dt.database) do
    local tags = {}
    for _, tag in ipairs(image:get_tags()) do tags[#tags + 1] = tag.name end
    table.sort(tags)
    images[#images + 1] = {
      id = image.id, path = image.path .. "/" .. image.filename, rating = image.rating,
      red = image.red, yellow = image.yellow, green = image.green, blue = image.blue, purple = image.purple,
      tags = tags, group_leader = image.group_leader.id,
    }
  end
  return images
end

function probe.count_marked()
  local n = 0
  for _, image in ipairs(dt.database) do
    for _, tag in ipairs(image:get_tags()) do
      if string.match(tag.name, "^darktable|blurwatch|") then n = n + 1 break end
    end
  end
  return n
end

local function read_line(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local line = f:read("*l") or ""
  f:close()
  return line
end

-- Wait until darktable's main thread idles (blocked in poll for half a second on end).
-- darktable 4.2 deadlocks when a Lua thread calls into GTK (dt.database.import,
-- dt.gui.action, ...) before its main loop runs, and the luarc runs in a thread of its
-- own while darktable is still starting. This makes that rare, not impossible: the
-- test harness starts a run again that got stuck there.
function probe.wait_for_gui(seconds)
  local main = string.match(read_line("/proc/self/stat"), "^(%d+)")
  local wchan = "/proc/self/task/" .. main .. "/wchan"
  local idle = 0
  for _ = 1, seconds * 20 do
    idle = string.find(read_line(wchan), "poll") and idle + 1 or 0
    if idle >= 10 then return true end
    dt.control.sleep(50)
  end
  return false
end

-- Poll until `done()` or `seconds` pass; darktable's own threads (imports, the
-- plugin's jobs) go on while this sleeps.
function probe.wait_until(done, seconds)
  for _ = 1, seconds * 5 do
    if done() then return true end
    dt.control.sleep(200)
  end
  return false
end

function probe.touch(path)
  local f = assert(io.open(path, "w"))
  f:close()
end

function probe.finish(out, extra)
  local report = { images = probe.library(), extra = extra or {} }
  local f = assert(io.open(out, "w"))
  f:write(encode(report))
  f:close()
  dt.gui.action("global/quit", 0, "", "", 1.0)
end

return probe
