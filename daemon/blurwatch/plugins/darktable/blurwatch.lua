--[[

    blurwatch.lua - show blurwatch's cull verdicts in darktable

    Copyright (C) the blurwatch authors.

    This program is free software: you can redistribute it and/or modify
    it under the terms of the GNU General Public License as published by
    the Free Software Foundation; either version 3 of the License, or
    (at your option) any later version.

    This program is distributed in the hope that it will be useful,
    but WITHOUT ANY WARRANTY; without even the implied warranty of
    MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
    GNU General Public License for more details.

    You should have received a copy of the GNU General Public License
    along with this program.  If not, see <http://www.gnu.org/licenses/>.
]]
--[[
    blurwatch - apply blurwatch's verdicts (keep / review / reject) to darktable's library

    darktable reads a sidecar's rating, colour labels and tags only when it imports a
    photo; afterwards its database wins. Photos blurwatch scored before import show up
    right by themselves; this script brings the verdicts to photos already in the library.

    It never parses XMP itself: it runs the blurwatch program, which reads its own
    namespace exactly as the rest of blurwatch does.
      blurwatch verdict --json PATH...   the verdicts stored in the sidecars (fast)
      blurwatch --once --json PATH...    score the photos and write their sidecars

    What a verdict becomes:
      reject  rating "rejected"
      review  yellow colour label, rating kept
      keep    the rating blurwatch chose, if it chose one
      tags    blurwatch|blurry, blurwatch|dark, blurwatch|overexposed, blurwatch|review
    A rating changed by hand in darktable after the script applied a verdict is kept
    (unless the preference "overwrite manual ratings" is on). What the script applied is
    remembered in a hidden tag darktable|blurwatch|<verdict>|<rating>, which darktable
    does not write into sidecars.

    ADDITIONAL SOFTWARE NEEDED FOR THIS SCRIPT
    blurwatch (its command line program)

    USAGE
    * blurwatch plugin install darktable
      (copies this folder to darktable's lua/blurwatch, adds require "blurwatch/blurwatch"
      to its luarc and records the blurwatch program's path in installed.lua beside this
      file; see blurwatch's plugins/README.md)
    * preferences > lua options: the blurwatch executable (default: the program that
      installed the script), the watch folders, whether to overwrite manual ratings
    * lighttable, module "blurwatch": "rescan" imports new photos from the watch
      folders and brings changed verdicts to the library; "cull selected" scores the
      selected photos. Both have shortcuts (preferences > shortcuts > lua).
    * photos imported after blurwatch scored them get their verdict on import.

    Windows is not supported yet (shell quoting and command execution differ there).
]]

local dt = require "darktable"

-- - - - - - - - - - - - - - - - - - - - - - - -
-- C O N S T A N T S
-- - - - - - - - - - - - - - - - - - - - - - - -

local MODULE = "blurwatch"
local MIN_API = "9.0.0" -- darktable 4.2
local TAG_PREFIX = "blurwatch|"
local REVIEW_TAG = TAG_PREFIX .. "review"
local MARKER_PREFIX = "darktable|blurwatch|"
local DEFAULT_RATING = 1 -- darktable's rating for a photo nobody rated
local VERDICTS = { keep = true, review = true, reject = true }
-- Paths per `blurwatch verdict` call: it only reads sidecars, so many at once.
local VERDICT_BATCH = 200
-- Paths per `blurwatch --once` call: scoring is slow; progress and cancel happen between batches.
local CULL_BATCH = 8

-- This file's folder, to load the JSON decoder wherever the script is installed.
local HERE = string.match(debug.getinfo(1, "S").source, "^@(.*[/\\])") or "./"
local json = dofile(HERE .. "lib/json.lua")

-- What `blurwatch plugin install darktable` recorded beside this file: the absolute path of
-- the blurwatch program that installed it (a desktop launcher's PATH may not find it).
local INSTALLED = {}
do
  local chunk = loadfile(HERE .. "installed.lua")
  local ok, values = pcall(chunk or function() return {} end)
  if ok and type(values) == "table" then INSTALLED = values end
end
local PATH_LOOKUP = "blurwatch" -- the preference's plain default: looked up on the PATH

-- - - - - - - - - - - - - - - - - - - - - - - -
-- I 1 8 N
-- - - - - - - - - - - - - - - - - - - - - - - -

local gettext = dt.gettext.gettext

local function _(msgid)
  return gettext(msgid)
end

-- - - - - - - - - - - - - - - - - - - - - - - -
-- S C R I P T  M A N A G E R  I N T E G R A T I O N
-- - - - - - - - - - - - - - - - - - - - - - - -

local script_data = {}

script_data.metadata = {
  name = _("blurwatch"),
  purpose = _("apply blurwatch's cull verdicts (keep / review / reject) to the library"),
  author = "the blurwatch authors",
  help = "plugin/README.md in blurwatch's sources",
}

script_data.destroy = nil -- set below
script_data.destroy_method = "hide" -- darktable 4.2 cannot remove a lib module, only hide it
script_data.restart = nil -- set below
script_data.show = nil -- set below

-- - - - - - - - - - - - - - - - - - - - - - - -
-- A P I  C H E C K
-- - - - - - - - - - - - - - - - - - - - - - - -

-- What lua-scripts' du.check_min_api_version does (lua-scripts is not always installed,
-- Debian's darktable package ships no lib/dtutils).
local function version_below(version, minimum)
  local a = { string.match(version, "^(%d+)%.(%d+)%.(%d+)") }
  local b = { string.match(minimum, "^(%d+)%.(%d+)%.(%d+)") }
  for i = 1, 3 do
    if tonumber(a[i]) ~= tonumber(b[i]) then
      return tonumber(a[i]) < tonumber(b[i])
    end
  end
  return false
end

if version_below(dt.configuration.api_version_string, MIN_API) then
  dt.print(string.format(_("blurwatch needs darktable 4.2 or later (Lua API %s)"), MIN_API))
  error("blurwatch: Lua API " .. MIN_API .. " or later required, this is " .. dt.configuration.api_version_string, 0)
end

-- - - - - - - - - - - - - - - - - - - - - - - -
-- N A M E  S P A C E
-- - - - - - - - - - - - - - - - - - - - - - - -

local bw = {
  pending = {}, -- images imported since the last post-import-film
  registered = {}, -- {name, event} of every event and shortcut, for destroy
  module_installed = false,
}

-- - - - - - - - - - - - - - - - - - - - - - - -
-- P R E F E R E N C E S
-- - - - - - - - - - - - - - - - - - - - - - - -

dt.preferences.register(MODULE, "executable", "file", _("blurwatch: executable"),
  _("the blurwatch program; plain \"blurwatch\" means the one that installed this script, else the PATH's"),
  INSTALLED.executable or PATH_LOOKUP)
dt.preferences.register(MODULE, "watch_folders", "string", _("blurwatch: watch folders"),
  _("folders that \"rescan\" imports new photos from, separated by ;"), "")
dt.preferences.register(MODULE, "overwrite_manual", "bool", _("blurwatch: overwrite manual ratings"),
  _("also replace ratings changed by hand after blurwatch's verdict was applied"), false)

-- A leading ~ is the home folder (the shell would not expand it inside quotes).
local function expand_home(path)
  return (string.gsub(path, "^~", os.getenv("HOME") or "~"))
end

-- The preference, unless it is empty or the plain default (which darktable stored if the
-- script ran before it was installed with `blurwatch plugin install`).
local function executable()
  local path = dt.preferences.read(MODULE, "executable", "file")
  if path == nil or path == "" or path == PATH_LOOKUP then return INSTALLED.executable or PATH_LOOKUP end
  return expand_home(path)
end

local function overwrite_manual()
  return dt.preferences.read(MODULE, "overwrite_manual", "bool")
end

local function watch_folders()
  local folders = {}
  for item in string.gmatch(dt.preferences.read(MODULE, "watch_folders", "string") or "", "[^;]+") do
    local folder = string.match(item, "^%s*(.-)/*%s*$")
    if folder ~= "" then
      folders[#folders + 1] = expand_home(folder)
    end
  end
  return folders
end

-- - - - - - - - - - - - - - - - - - - - - - - -
-- F U N C T I O N S
-- - - - - - - - - - - - - - - - - - - - - - - -

-------------------
-- helpers
-------------------

local function log(fmt, ...)
  dt.print_log("blurwatch: " .. string.format(fmt, ...))
end

local function image_path(image)
  return image.path .. "/" .. image.filename
end

-- One shell word (what lua-scripts' df.sanitize_filename does on Linux and macOS).
local function quote(word)
  return "'" .. string.gsub(word, "'", "'\\''") .. "'"
end

-- darktable returns system()'s wait status: the exit code is in the high byte.
local function exit_code(status)
  if status >= 256 then return math.floor(status / 256) end
  return status
end

local function first_line(file)
  local f = io.open(file, "r")
  if not f then return "" end
  local line = f:read("*l") or ""
  f:close()
  return line
end

-- The JSON objects blurwatch printed, one a line; a line that is not JSON is logged and skipped.
local function read_records(file)
  local records = {}
  local f = io.open(file, "r")
  if not f then return records end
  for line in f:lines() do
    if string.find(line, "%S") then
      local ok, record = pcall(json.decode, line)
      if ok and type(record) == "table" and type(record.path) == "string" then
        records[#records + 1] = record
      else
        dt.print_error("blurwatch: unexpected output line: " .. line)
      end
    end
  end
  f:close()
  return records
end

-- Run blurwatch with fixed arguments and photo paths; output goes to temporary files, so
-- darktable's interface is not held up by a pipe. Returns the JSON records, or nil and
-- a message when blurwatch printed nothing usable.
local function run_blurwatch(args, paths)
  local out, err = os.tmpname(), os.tmpname()
  local words = { quote(executable()) }
  for _, arg in ipairs(args) do words[#words + 1] = arg end
  for _, path in ipairs(paths) do words[#words + 1] = quote(path) end
  local command = table.concat(words, " ") .. " >" .. quote(out) .. " 2>" .. quote(err)
  log("running %s", command)
  local code = exit_code(dt.control.execute(command))
  local records = read_records(out)
  local message = first_line(err)
  os.remove(out)
  os.remove(err)
  if #records == 0 and code == 127 then
    return nil, string.format(_("blurwatch: program %s not found (preferences > lua options)"), executable())
  elseif #records == 0 and code ~= 0 then
    return nil, string.format("blurwatch: exit code %d: %s", code, message)
  end
  return records
end

-- Images by their file path (virtual copies share one file), and the paths in order.
local function group_by_path(images)
  local by_path, paths = {}, {}
  for _, image in ipairs(images) do
    local path = image_path(image)
    if not by_path[path] then
      by_path[path] = {}
      paths[#paths + 1] = path
    end
    table.insert(by_path[path], image)
  end
  return by_path, paths
end

local function slice(list, first, count)
  local part = {}
  for i = first, math.min(#list, first + count - 1) do part[#part + 1] = list[i] end
  return part
end

-------------------
-- verdict -> image
-------------------

-- The rating blurwatch wants, or nil to leave it: a reject is always "rejected"; else the
-- sidecar's rating unless somebody set it by hand. 1 star is left alone too: it is what
-- darktable shows for an unrated photo, so it brings nothing and could only undo a star
-- given here that darktable did not write to the sidecar.
local function blurwatch_rating(record)
  if record.verdict == "reject" then return -1 end
  if record.rating_is_manual or type(record.rating) ~= "number" or record.rating < 0
      or record.rating == DEFAULT_RATING then
    return nil
  end
  return math.floor(record.rating)
end

-- What identifies a verdict: only a changed verdict is applied again.
local function signature(record)
  local parts = { record.verdict }
  for _, reason in ipairs(record.reasons or {}) do parts[#parts + 1] = reason end
  return table.concat(parts, "+") .. "@" .. tostring(blurwatch_rating(record) or "-")
end

-- The hidden tag recording what the script applied last: {tag, sig, rating} or nil.
local function read_marker(image)
  for _, tag in ipairs(image:get_tags()) do
    local sig, rating = string.match(tag.name, "^darktable|blurwatch|([^|]+)|(-?%d+)$")
    if sig then return { tag = tag, sig = sig, rating = tonumber(rating) } end
  end
  return nil
end

local function write_marker(image, marker, sig)
  if marker then dt.tags.detach(marker.tag, image) end
  dt.tags.attach(dt.tags.create(MARKER_PREFIX .. sig .. "|" .. image.rating), image)
end

local function wanted_tags(record)
  local names = {}
  for _, reason in ipairs(record.reasons or {}) do names[#names + 1] = TAG_PREFIX .. reason end
  if record.verdict == "review" then names[#names + 1] = REVIEW_TAG end
  return names
end

-- Attach the verdict's tags, detach blurwatch tags left from an earlier verdict.
local function set_tags(image, names)
  local wanted = {}
  for _, name in ipairs(names) do wanted[name] = true end
  for _, tag in ipairs(image:get_tags()) do
    if string.sub(tag.name, 1, #TAG_PREFIX) == TAG_PREFIX then
      if wanted[tag.name] then
        wanted[tag.name] = nil
      else
        dt.tags.detach(tag, image)
      end
    end
  end
  for _, name in ipairs(names) do
    if wanted[name] then dt.tags.attach(dt.tags.create(name), image) end
  end
end

-- Yellow for review; a yellow label the script set for an earlier review verdict goes.
local function set_review_label(image, record, marker)
  if record.verdict == "review" then
    image.yellow = true
  elseif marker and string.match(marker.sig, "^review") then
    image.yellow = false
  end
end

-- Whether the current rating was set by somebody: it changed since the script applied its
-- verdict, or (never applied here) blurwatch found it set by hand in the sidecar.
local function rating_is_manual(image, record, marker)
  if marker then return image.rating ~= marker.rating end
  return record.rating_is_manual == true
end

local function set_rating(image, record, marker)
  local target = blurwatch_rating(record)
  if target == nil and marker and marker.rating == -1 and image.rating == -1 then
    target = DEFAULT_RATING -- blurwatch withdrew the reject the script applied
  end
  if target == nil or target == image.rating then return end
  if rating_is_manual(image, record, marker) and not overwrite_manual() then
    log("%s: keeping the rating set by hand (%d)", image_path(image), image.rating)
    return
  end
  image.rating = target
end

-- Apply one verdict to one image; true if it was new here. Applying twice changes nothing.
local function apply_verdict(image, record)
  local marker = read_marker(image)
  local sig = signature(record)
  if marker and marker.sig == sig and (image.rating == marker.rating or not overwrite_manual()) then
    return false
  end
  set_tags(image, wanted_tags(record))
  set_review_label(image, record, marker)
  set_rating(image, record, marker)
  write_marker(image, marker, sig)
  log("%s: applied %s", image_path(image), sig)
  return true
end

-- Apply blurwatch's records to the images with those paths; counts what happened.
local function apply_records(by_path, records, counts)
  for _, record in ipairs(records) do
    if record.error then
      counts.failed = counts.failed + 1
      dt.print_error("blurwatch: " .. tostring(record.error)) -- blurwatch's message names the file
    elseif VERDICTS[record.verdict] and by_path[record.path] then
      counts[record.verdict] = counts[record.verdict] + 1
      for _, image in ipairs(by_path[record.path]) do
        if apply_verdict(image, record) then counts.applied = counts.applied + 1 end
      end
    end
  end
end

local function new_counts()
  return { keep = 0, review = 0, reject = 0, failed = 0, applied = 0 }
end

-- What a run did, for the toast: the error that stopped it, or the counts.
local function summary(counts)
  if counts.error then return counts.error end
  return string.format(_("blurwatch: %d kept, %d to review, %d rejected, %d failed; %d new verdicts applied"),
    counts.keep, counts.review, counts.reject, counts.failed, counts.applied)
end

-------------------
-- jobs
-------------------

local function stop_job(job)
  job.valid = false
end

local function job_running(job)
  return job.valid and not dt.control.ending
end

-- Run `command` (a function of a batch of paths returning the records to apply) over
-- the images, batch by batch, in a darktable job with progress and a cancel button.
local function run_job(title, images, batch_size, command)
  local by_path, paths = group_by_path(images)
  local counts = new_counts()
  if #paths == 0 then return counts end
  local job = dt.gui.create_job(title, true, stop_job)
  for first = 1, #paths, batch_size do
    if not job_running(job) then
      log("%s: cancelled", title)
      break
    end
    local records, message = command(slice(paths, first, batch_size))
    if records then
      apply_records(by_path, records, counts)
    else
      dt.print_error(message)
      counts.error = message
      break
    end
    if job.valid then job.percent = math.min(1.0, (first + batch_size - 1) / #paths) end
  end
  if job.valid then job.valid = false end
  return counts
end

local function stored_verdicts(paths)
  return run_blurwatch({ "verdict", "--json" }, paths)
end

-- Score a batch: blurwatch writes the sidecars and tells, per photo, the rating its sidecar
-- now holds and whether somebody set it by hand (the fields `verdict --json` has), so one
-- run is enough. Failures come as records with an error.
local function cull_batch(paths)
  return run_blurwatch({ "--once", "--json" }, paths)
end

local function apply_stored(images, title)
  return run_job(title, images, VERDICT_BATCH, stored_verdicts)
end

-------------------
-- actions
-------------------

local function is_inside(path, folder)
  return path == folder or string.sub(path, 1, #folder + 1) == folder .. "/"
end

-- A darktable collection (film roll, dt.films, dt.collection, selection) as a plain list.
-- Counted, not ipairs'ed: darktable raises an error for an index past a film roll's end.
local function list_of(images)
  local list = {}
  for i = 1, #images do list[i] = images[i] end
  return list
end

-- The library's images inside the folders (film rolls at or below them).
local function images_in_folders(folders)
  local images = {}
  for _, film in ipairs(list_of(dt.films)) do
    for _, folder in ipairs(folders) do
      if is_inside(film.path, folder) then
        for _, image in ipairs(list_of(film)) do images[#images + 1] = image end
        break
      end
    end
  end
  return images
end

-- Import new photos from the watch folders (the import events apply their verdicts), then
-- bring verdicts that changed to the library: the images in the watch folders, or the
-- current collection when no watch folder is set.
local function rescan()
  local folders = watch_folders()
  for _, folder in ipairs(folders) do
    local ok, err = pcall(dt.database.import, folder)
    if not ok then dt.print_error("blurwatch: " .. folder .. ": cannot import: " .. tostring(err)) end
  end
  local images = #folders > 0 and images_in_folders(folders) or list_of(dt.collection)
  dt.print(summary(apply_stored(images, _("blurwatch: rescan"))))
end

local function cull(images)
  images = list_of(images)
  if #images == 0 then
    dt.print(_("blurwatch: select the photos to cull first"))
    return
  end
  dt.print(summary(run_job(_("blurwatch: culling"), images, CULL_BATCH, cull_batch)))
end

-- Photos blurwatch scored before import: collected per image, applied once per film roll.
local function on_import_image(event, image)
  table.insert(bw.pending, image)
end

local function on_import_film(event, film)
  local images = bw.pending
  bw.pending = {}
  apply_stored(images, _("blurwatch: applying verdicts"))
end

-- - - - - - - - - - - - - - - - - - - - - - -
-- U S E R  I N T E R F A C E
-- - - - - - - - - - - - - - - - - - - - - - - -

local function install_module()
  if bw.module_installed then return end
  dt.register_lib(MODULE, _("blurwatch"), true, false,
    { [dt.gui.views.lighttable] = { "DT_UI_CONTAINER_PANEL_RIGHT_CENTER", 700 } },
    dt.new_widget("box") {
      orientation = "vertical",
      dt.new_widget("button") {
        label = _("rescan"),
        tooltip = _("import new photos from the watch folders and apply verdicts that changed"),
        clicked_callback = function() rescan() end,
      },
      dt.new_widget("button") {
        label = _("cull selected"),
        tooltip = _("score the selected photos with blurwatch and apply the verdicts"),
        clicked_callback = function() cull(dt.gui.action_images) end,
      },
    },
    nil, nil)
  bw.module_installed = true
end

-- - - - - - - - - - - - - - - - - - - - - - - -
-- D A R K T A B L E  I N T E G R A T I O N
-- - - - - - - - - - - - - - - - - - - - - - - -

local function register(name, event, ...)
  dt.register_event(name, event, ...)
  table.insert(bw.registered, { name, event })
end

local function on_view_changed(event, old_view, new_view)
  if new_view.id == "lighttable" then install_module() end
end

local function register_events()
  register(MODULE, "post-import-image", on_import_image)
  register(MODULE, "post-import-film", on_import_film)
  register(MODULE .. "_rescan", "shortcut", function(event, shortcut) rescan() end, _("blurwatch: rescan"))
  register(MODULE .. "_cull", "shortcut", function(event, shortcut) cull(dt.gui.action_images) end,
    _("blurwatch: cull selected"))
  if not bw.module_installed then register(MODULE, "view-changed", on_view_changed) end
end

local function destroy()
  for _, entry in ipairs(bw.registered) do dt.destroy_event(entry[1], entry[2]) end
  bw.registered = {}
  bw.pending = {}
  if bw.module_installed then dt.gui.libs[MODULE].visible = false end
end

local function restart()
  register_events()
  if bw.module_installed then dt.gui.libs[MODULE].visible = true end
end

script_data.destroy = destroy
script_data.restart = restart
script_data.show = restart

-- - - - - - - - - - - - - - - - - - - - - - - -
-- M A I N  P R O G R A M
-- - - - - - - - - - - - - - - - - - - - - - - -

if dt.gui.current_view().id == "lighttable" then install_module() end
register_events()

return script_data
