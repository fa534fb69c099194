--[[
    BlurwatchCull.lua - score photos with blurwatch and show the verdicts in the catalog.

    Copyright (C) the blurwatch authors. Licence: GPL-3.0-or-later.

    Lightroom keeps pick flags (and everything else it shows) in its catalog; it never
    reads a pick flag from XMP, so blurwatch's sidecars cannot carry rejects into
    Lightroom. This runs `blurwatch --once --json` on the selected photos (which also
    writes their sidecars) and applies each verdict inside the catalog:
      reject  pick status "rejected"
      review  yellow colour label
      all     keywords blurwatch > blurry / dark / overexposed / review
    A later verdict withdraws what an earlier one set (the reject flag, the yellow
    label) only while the photo still shows it, so a flag or label the user changed
    is kept. Ratings are left alone.
]]

local LrApplication = import "LrApplication"
local LrDialogs = import "LrDialogs"
local LrFileUtils = import "LrFileUtils"
local LrFunctionContext = import "LrFunctionContext"
local LrLogger = import "LrLogger"
local LrPathUtils = import "LrPathUtils"
local LrPrefs = import "LrPrefs"
local LrProgressScope = import "LrProgressScope"
local LrTasks = import "LrTasks"

local json = require "json"

local log = LrLogger("blurwatch")
log:enable("logfile")

local Cull = {}

-- Photos per blurwatch run: progress and cancel happen between batches.
Cull.BATCH = 8
local PARENT_KEYWORD = "blurwatch"
local REVIEW = "review"
local VERDICTS = { keep = true, review = true, reject = true }

function Cull.executable()
  local path = LrPrefs.prefsForPlugin().executable
  if path == nil or path == "" then return "blurwatch" end
  return path
end

-- One shell word: for cmd.exe on Windows (file names cannot hold a double quote
-- there), for sh on macOS.
function Cull.quote(word)
  if WIN_ENV then return '"' .. word .. '"' end
  return "'" .. string.gsub(word, "'", "'\\''") .. "'"
end

function Cull.command(paths, out, err)
  local words = { Cull.quote(Cull.executable()), "--once", "--json" }
  for _, path in ipairs(paths) do words[#words + 1] = Cull.quote(path) end
  local command = table.concat(words, " ") .. " >" .. Cull.quote(out) .. " 2>" .. Cull.quote(err)
  if WIN_ENV then
    command = '"' .. command .. '"' -- cmd /c strips one pair of outer quotes
  end
  return command
end

-- blurwatch's JSON lines as records; a line that is not JSON is logged and skipped.
function Cull.parse(text)
  local records = {}
  for line in string.gmatch(text, "[^\r\n]+") do
    local ok, record = pcall(json.decode, line)
    if ok and type(record) == "table" and type(record.path) == "string" then
      records[#records + 1] = record
    else
      log:warn("unexpected output line from blurwatch: " .. line)
    end
  end
  return records
end

local function temp_file(name)
  return LrFileUtils.chooseUniqueFileName(LrPathUtils.child(LrPathUtils.getStandardFilePath("temp"), name))
end

-- Score the photos (output through temporary files); the records, or nil and a message.
function Cull.score(paths)
  local out, err = temp_file("blurwatch-out.jsonl"), temp_file("blurwatch-err.txt")
  local command = Cull.command(paths, out, err)
  log:trace("running " .. command)
  local status = LrTasks.execute(command)
  local records = Cull.parse(LrFileUtils.readFile(out) or "")
  local message = string.match(LrFileUtils.readFile(err) or "", "[^\r\n]+")
  LrFileUtils.delete(out)
  LrFileUtils.delete(err)
  if #records == 0 and status ~= 0 then
    return nil, string.format("blurwatch (%s) failed with status %s: %s", Cull.executable(), tostring(status),
      message or "no message")
  end
  return records
end

-------------------
-- verdict -> photo
-------------------

-- The photo's keywords under "blurwatch", by name.
local function blurwatch_keywords(photo)
  local found = {}
  for _, keyword in ipairs(photo:getRawMetadata("keywords")) do
    local parent = keyword:getParent()
    if parent and parent:getName() == PARENT_KEYWORD then found[keyword:getName()] = keyword end
  end
  return found
end

-- The verdict applied before, read back from its keywords: review has the review
-- keyword, reject has only reasons, keep has none.
local function previous_verdict(keywords)
  if keywords[REVIEW] then return "review" end
  if next(keywords) then return "reject" end
  return nil
end

local function wanted_keywords(record)
  local names = {}
  for _, reason in ipairs(record.reasons or {}) do names[#names + 1] = reason end
  if record.verdict == "review" then names[#names + 1] = REVIEW end
  return names
end

-- Take back the reject flag or yellow label of an earlier verdict, if still there.
local function withdraw(photo, record, previous)
  if previous == "reject" and record.verdict ~= "reject" and photo:getRawMetadata("pickStatus") == -1 then
    photo:setRawMetadata("pickStatus", 0)
  end
  if previous == "review" and record.verdict ~= "review" and photo:getRawMetadata("colorNameForLabel") == "yellow" then
    photo:setRawMetadata("colorNameForLabel", "none")
  end
end

local function set_keywords(catalog, photo, before, names)
  local wanted = {}
  for _, name in ipairs(names) do wanted[name] = true end
  for name, keyword in pairs(before) do
    if not wanted[name] then photo:removeKeyword(keyword) end
  end
  -- not included on export: they are for culling, not for whoever receives the photo
  local parent = catalog:createKeyword(PARENT_KEYWORD, {}, false, nil, true)
  for _, name in ipairs(names) do
    if not before[name] then photo:addKeyword(catalog:createKeyword(name, {}, false, parent, true)) end
  end
end

-- Apply one verdict to one photo (inside catalog:withWriteAccessDo). Idempotent.
function Cull.apply(catalog, photo, record)
  local before = blurwatch_keywords(photo)
  withdraw(photo, record, previous_verdict(before))
  if record.verdict == "reject" then photo:setRawMetadata("pickStatus", -1) end
  if record.verdict == "review" then photo:setRawMetadata("colorNameForLabel", "yellow") end
  set_keywords(catalog, photo, before, wanted_keywords(record))
end

-------------------
-- the menu command
-------------------

local function group_by_path(photos)
  local by_path, paths = {}, {}
  for _, photo in ipairs(photos) do
    local path = photo:getRawMetadata("path")
    if not by_path[path] then
      by_path[path] = {}
      paths[#paths + 1] = path
    end
    table.insert(by_path[path], photo)
  end
  return by_path, paths
end

local function apply_records(catalog, by_path, records, counts)
  for _, record in ipairs(records) do
    if record.error then
      counts.failures[#counts.failures + 1] = tostring(record.error)
      log:warn(tostring(record.error))
    elseif VERDICTS[record.verdict] and by_path[record.path] then
      counts[record.verdict] = counts[record.verdict] + 1
      for _, photo in ipairs(by_path[record.path]) do Cull.apply(catalog, photo, record) end
    end
  end
end

-- Cull the photos batch by batch; the counts of verdicts, failures and any error that stopped it.
function Cull.run(catalog, photos, progress)
  local by_path, paths = group_by_path(photos)
  local counts = { keep = 0, review = 0, reject = 0, failures = {} }
  for first = 1, #paths, Cull.BATCH do
    if progress:isCanceled() then break end
    local batch = {}
    for i = first, math.min(#paths, first + Cull.BATCH - 1) do batch[#batch + 1] = paths[i] end
    local records, message = Cull.score(batch)
    if not records then
      counts.error = message
      break
    end
    catalog:withWriteAccessDo(LOC "$$$/blurwatch/Undo=Cull with blurwatch", function()
      apply_records(catalog, by_path, records, counts)
    end, { timeout = 30 })
    progress:setPortionComplete(first + #batch - 1, #paths)
  end
  progress:done()
  return counts
end

function Cull.summary(counts)
  local lines = {
    string.format("%d kept, %d to review, %d rejected, %d failed.", counts.keep, counts.review, counts.reject,
      #counts.failures),
  }
  if counts.error then lines[#lines + 1] = counts.error end
  for i = 1, math.min(5, #counts.failures) do lines[#lines + 1] = counts.failures[i] end
  return table.concat(lines, "\n")
end

function Cull.cull_selected()
  local catalog = LrApplication.activeCatalog()
  local photos = catalog:getTargetPhotos()
  LrFunctionContext.callWithContext("blurwatch", function(context)
    local progress = LrProgressScope { title = LOC "$$$/blurwatch/Progress=Culling with blurwatch",
      functionContext = context }
    local counts = Cull.run(catalog, photos, progress)
    LrDialogs.message(LOC "$$$/blurwatch/Done=blurwatch", Cull.summary(counts), counts.error and "critical" or "info")
  end)
end

return Cull
