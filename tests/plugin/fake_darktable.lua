--[[
    A fake of the parts of darktable's Lua API (9.0, darktable 4.2) that blurwatch.lua uses.

    It behaves like the real one where the plugin depends on it (checked against
    darktable 4.2.1 by tests/plugin/test_darktable_real.py):
      * register_event refuses a name already registered for that event, destroy_event
        refuses one that is not;
      * control.execute runs the command in a real shell and returns system()'s wait
        status (exit code * 256);
      * database.import of a folder adds its new files (not sidecars), fires
        post-import-image per image, then post-import-film;
      * tags.create returns the existing tag of that name;
      * indexing a film roll past its end is an error, so ipairs cannot walk it.
    It does not read sidecars at import (real darktable does).

    The tests reach `fake.*` helpers to set up images and fire events.
]]

local fake = {}

local dt = {
  configuration = {
    api_version_string = "9.0.0",
    api_version_major = 9,
    version = "4.2.1",
    has_gui = true,
    running_os = "linux",
    tmp_dir = "/tmp",
    config_dir = "/tmp",
  },
  gettext = { gettext = function(s) return s end },
  control = { ending = false },
  gui = { views = {
    lighttable = { id = "lighttable", name = "lighttable" }, darkroom = { id = "darkroom", name = "darkroom" } }, libs = {}, action_images = {} },
  preferences = {},
  database = {},
  films = {},
  collection = {},
  tags = {},
}

fake.dt = dt
fake.messages = {} -- dt.print
fake.errors = {} -- dt.print_error
fake.log = {} -- dt.print_log
fake.commands = {} -- what control.execute ran
fake.events = {} -- events[event][name] = {callback, extra...}
fake.jobs = {}
fake.prefs = {}
fake.view = "lighttable"

-------------------
-- printing
-------------------

function dt.print(msg) table.insert(fake.messages, msg) end
function dt.print_error(msg) table.insert(fake.errors, msg) end
function dt.print_log(msg) table.insert(fake.log, msg) end
dt.print_toast = dt.print

-------------------
-- preferences
-------------------

function dt.preferences.register(script, name, kind, label, tooltip, default)
  local key = script .. "/" .. name
  if fake.prefs[key] == nil then fake.prefs[key] = default end
end

function dt.preferences.read(script, name, kind)
  local value = fake.prefs[script .. "/" .. name]
  if value == nil then
    if kind == "bool" then return false end
    return ""
  end
  return value
end

function dt.preferences.write(script, name, kind, value)
  fake.prefs[script .. "/" .. name] = value
end

-------------------
-- events
-------------------

function dt.register_event(name, event, callback, ...)
  fake.events[event] = fake.events[event] or {}
  if fake.events[event][name] then
    error("key '" .. name .. "' already registered for event " .. event)
  end
  fake.events[event][name] = { callback, ... }
end

function dt.destroy_event(name, event)
  if not (fake.events[event] and fake.events[event][name]) then
    error("bad argument #-1 to '?' (string expected, got nil)")
  end
  fake.events[event][name] = nil
end

-- Call every callback registered for `event` with darktable's arguments.
function fake.fire(event, ...)
  for _, entry in pairs(fake.events[event] or {}) do entry[1](event, ...) end
end

-- Press the shortcut with this description (as darktable lists it under "lua").
function fake.shortcut(description)
  for _, entry in pairs(fake.events["shortcut"] or {}) do
    if entry[2] == description then return entry[1]("shortcut", description) end
  end
  error("no shortcut " .. description)
end

function fake.registered_count()
  local n = 0
  for _, names in pairs(fake.events) do
    for _ in pairs(names) do n = n + 1 end
  end
  return n
end

-------------------
-- widgets and lib modules
-------------------

function dt.new_widget(kind)
  return function(props)
    props.kind = kind
    return props
  end
end

function dt.register_lib(name, label, expandable, resetable, views, widget)
  if dt.gui.libs[name] then error("lib " .. name .. " already registered") end
  dt.gui.libs[name] = { name = name, label = label, visible = true, views = views, widget = widget }
end

-- Click the button with this label in a lib module.
function fake.click(lib, label)
  for _, child in ipairs(dt.gui.libs[lib].widget) do
    if child.kind == "button" and child.label == label then return child.clicked_callback(child) end
  end
  error("no button " .. label .. " in " .. lib)
end

function dt.gui.current_view() return dt.gui.views[fake.view] or { id = fake.view, name = fake.view } end

-------------------
-- jobs and commands
-------------------

-- A job; `fake.cancel_after` cancels a job after that many progress updates, as the
-- user pressing its cancel button would (darktable calls the cancel callback).
function dt.gui.create_job(text, piechart, cancel_callback)
  local state = { text = text, percent = 0.0, valid = true, updates = 0 }
  local job = setmetatable({}, {
    __index = state,
    __newindex = function(t, k, v)
      if k == "percent" then
        if not state.valid then error("job is not valid") end
        state.updates = state.updates + 1
        if fake.cancel_after and state.updates >= fake.cancel_after then cancel_callback(t) end
      end
      state[k] = v
    end,
  })
  table.insert(fake.jobs, job)
  return job
end

-- darktable returns system()'s wait status (exit code * 256). os.execute gives the exit
-- code where Lua was built for POSIX, else (as in lupa's Lua) that raw status already.
function dt.control.execute(command)
  table.insert(fake.commands, command)
  local _, _, code = os.execute(command)
  if code > 0 and code < 256 then return code * 256 end
  return code
end

function dt.control.sleep(ms) end

-------------------
-- images, films, tags
-------------------

local next_id = 1
local tag_by_name = {}

local function new_tag(name)
  return { name = name }
end

function dt.tags.create(name)
  tag_by_name[name] = tag_by_name[name] or new_tag(name)
  return tag_by_name[name]
end

function dt.tags.find(name) return tag_by_name[name] end

function dt.tags.attach(tag, image) image._tags[tag.name] = tag end

function dt.tags.detach(tag, image) image._tags[tag.name] = nil end

local function get_tags(image)
  local list = {}
  for _, tag in pairs(image._tags) do list[#list + 1] = tag end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

local function film_for(path)
  for _, film in ipairs(dt.films) do
    if film.path == path then return film end
  end
  -- like darktable's film roll: indexing past its end is an error (so ipairs fails on it)
  local images = {}
  local film = setmetatable({ path = path, images = images }, {
    __len = function() return #images end,
    __index = function(_, i)
      if images[i] == nil then error("incorrect index in database") end
      return images[i]
    end,
  })
  table.insert(dt.films, film)
  return film
end

-- darktable's grouping: every image has a group leader (itself when alone).
local function group_with(image, other)
  image.group_leader = other and other.group_leader or image
end

local function make_group_leader(image)
  local old = image.group_leader
  for _, member in ipairs(dt.database) do
    if member.group_leader == old then member.group_leader = image end
  end
  image.group_leader = image
end

-- An image in the library, as darktable would have imported it (1 star, no labels).
function fake.add_image(folder, filename, props)
  local image = {
    id = next_id, path = folder, filename = filename, rating = 1,
    red = false, yellow = false, green = false, blue = false, purple = false,
    _tags = {}, get_tags = get_tags, group_with = group_with, make_group_leader = make_group_leader,
  }
  image.group_leader = image
  next_id = next_id + 1
  for k, v in pairs(props or {}) do image[k] = v end
  image._tags["darktable|format|jpg"] = new_tag("darktable|format|jpg")
  table.insert(dt.database, image)
  table.insert(film_for(folder).images, image)
  return image
end

function fake.find_image(folder, filename)
  for _, image in ipairs(dt.database) do
    if image.path == folder and image.filename == filename then return image end
  end
  return nil
end

function fake.tag_names(image, prefix)
  local names = {}
  for _, tag in ipairs(get_tags(image)) do
    if prefix == nil or string.sub(tag.name, 1, #prefix) == prefix then names[#names + 1] = tag.name end
  end
  return names
end

-- darktable's folder import: new photos only (sidecars are not photos), subfolders too.
-- The host sets fake.list_files(folder) -> sorted {folder, name} pairs of every file
-- below it (lupa's Lua has no io.popen to list a folder).
function dt.database.import(path)
  for _, entry in ipairs(fake.list_files(path)) do
    local folder, name = entry[1], entry[2]
    if not string.match(string.lower(name), "%.xmp$") and not fake.find_image(folder, name) then
      fake.fire("post-import-image", fake.add_image(folder, name))
    end
  end
  fake.fire("post-import-film", film_for(path))
end

return fake
